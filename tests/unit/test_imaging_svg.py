"""The SVG sanitiser (svg.py) and its renderer (svgrender.py): what was checked
is exactly what is rendered, at exactly the size that was checked."""
import pytest
from defusedxml import ElementTree as SafeET

from convertix.errors import UnsupportedFormat
from convertix.imaging import Limits, convert
from convertix.imaging.svg import sanitise

from .conftest import decode

SVG_NS = "{http://www.w3.org/2000/svg}"

# A DOCTYPE-looking string inside CDATA, then a processing instruction whose
# text holds ']]>' and a red <rect>. Parsed as is, the rect is PI text and
# is never checked; stripping '<!DOCTYPE x]]>' from the bytes would reopen
# the CDATA and turn that PI text into a real <rect>.
CDATA_SMUGGLE = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                 b'<text><![CDATA[<!DOCTYPE x]]></text>'
                 b'<?p ]]><rect width="10" height="10" fill="red"/></text><?p ?></svg>')


def _tags(svg_bytes):
    return [el.tag.replace(SVG_NS, "") for el in SafeET.fromstring(svg_bytes).iter()]


def test_svg_renders_the_checked_tree_not_the_bytes(opts):
    clean, _size = sanitise(CDATA_SMUGGLE, Limits())
    assert _tags(clean) == ["svg", "text"]
    got = decode(convert(CDATA_SMUGGLE, opts(format="png")).data)
    assert (got.mode, got.size) == ("RGBA", (10, 10))
    assert got.getpixel((5, 5))[3] == 0  # transparent: no smuggled red rect


def test_svg_public_doctype_is_accepted_and_not_rendered(opts):
    svg = (b'<?xml version="1.0"?>\n'
           b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
           b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
           b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           b'width="20" height="20"><defs><rect id="r" width="10" height="10" fill="#ff0000"/></defs>'
           b'<use xlink:href="#r"/><use xlink:href="#r" x="10"/></svg>')
    clean, _size = sanitise(svg, Limits())
    assert b"DOCTYPE" not in clean and b"w3.org/Graphics" not in clean
    got = decode(convert(svg, opts(format="png")).data)
    assert (got.mode, got.size) == ("RGBA", (20, 20))
    assert got.getpixel((5, 5)) == got.getpixel((15, 5)) == (255, 0, 0, 255)
    assert got.getpixel((5, 15))[3] == 0


def test_svg_internal_subset_is_refused():
    svg = (b'<!DOCTYPE svg [<!ENTITY a "b">]>'
           b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">&a;</svg>')
    with pytest.raises(UnsupportedFormat):
        sanitise(svg, Limits())
