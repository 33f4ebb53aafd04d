"""The SVG sanitiser (svg.py) and its renderer (svgrender.py): what was checked
is exactly what is rendered, at exactly the size that was checked."""
import pytest
from defusedxml import ElementTree as SafeET

from convertix.errors import CorruptImage, ImageTooLarge, UnsupportedFormat
from convertix.imaging import Limits, convert, svgrender
from convertix.imaging.svg import sanitise
from convertix.imaging.svgrefs import MAX_DEPTH

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


def _svg(attrs, body=b""):
    return b'<svg xmlns="http://www.w3.org/2000/svg" ' + attrs + b">" + body + b"</svg>"


@pytest.mark.parametrize("attrs,size", [
    (b'width="10mm" height="1in"', (38, 96)),
    (b'width="100%" height="100%" viewBox="0 0 30 20"', (30, 20)),
    (b'width="30" viewBox="0,0,60,40"', (30, 20)),
    (b'width=" 12.4px " height="+8"', (12, 8)),
    (b'width="2E1" height="1.5em"', (20, 24)),
])
def test_svg_render_size(attrs, size):
    assert sanitise(_svg(attrs), Limits())[1] == size


@pytest.mark.parametrize("attrs,field", [
    (b'width="6_0000" height="10" viewBox="0 0 10 10"', "width"),
    (b'width="10" height="ten"', "height"),
    (b'width="1e400" height="10"', "width"),
    (b'width="10" height="10px5"', "height"),
    (b'viewBox="0 0 nan nan"', "viewBox"),
    (b'viewBox="0 0 inf 10"', "viewBox"),
    (b'height="10" viewBox="0 0 1_0 10"', "viewBox"),
])
def test_svg_unusable_size_is_refused(attrs, field):
    with pytest.raises(CorruptImage) as exc:
        sanitise(_svg(attrs), Limits())
    assert exc.value.details == {"field": field}


def test_svg_signed_size_is_checked_before_rendering(opts):
    # CairoSVG reads '+200' as 200: so must the limit check, before any surface exists.
    small = Limits(max_width=100, max_height=100, max_pixels=10_000)
    with pytest.raises(ImageTooLarge) as exc:
        convert(_svg(b'width="+200" height="+200" viewBox="0 0 10 10"'), opts(format="png"), small)
    assert exc.value.details == {"width": 200, "height": 200}  # from the sanitiser, not after decoding


def test_svg_renders_at_the_checked_size():
    # Told 30x20, CairoSVG scales the 3x2 viewBox to it whatever width/height say.
    svg = _svg(b'width="300" height="200" viewBox="0 0 3 2"',
               b'<rect width="1" height="2" fill="#ff0000"/>')
    got = svgrender.render(svg, (30, 20))
    assert (got.mode, got.size) == ("RGBA", (30, 20))
    assert got.getpixel((5, 10)) == (255, 0, 0, 255)
    assert got.getpixel((25, 10))[3] == 0


def _pattern_bomb(how, depth=6, fan_out=10):
    """Patterns p0..p{depth}: each draws `fan_out` rects filled with the next one
    (fan_out**depth tiles), the reference written `how`."""
    style = b""
    parts = []
    escaped = how.endswith("-escaped")  # 'url' written with CSS escapes, as CairoSVG's tinycss2 reads it
    how = how.removesuffix("-escaped")
    for level in range(depth):
        ref = (b"\\75 r\\l(#p%d)" if escaped else b"url(#p%d)") % (level + 1)
        paint = {
            "attribute": b'fill="%s"' % ref,
            "style": b'style="stroke:red; fill: %s"' % ref,
            "sheet": b'class="l%d"' % level,
            "inherited": b"",
        }[how]
        rects = b"".join(b'<rect x="%d" width="2" height="2" %s/>' % (i, paint) for i in range(fan_out))
        if how == "inherited":
            rects = b'<g fill="%s">%s</g>' % (ref, rects)
        if how == "sheet":
            style += b".l%d { fill: %s }\n" % (level, ref)
        parts.append(b'<pattern id="p%d" width="20" height="20" patternUnits="userSpaceOnUse">%s</pattern>'
                     % (level, rects))
    parts.append(b'<pattern id="p%d" width="1" height="1"><rect width="1" height="1"/></pattern>' % depth)
    body = b"<style>" + style + b"</style><defs>" + b"".join(parts) + b'</defs><rect width="20" height="20" fill="url(#p0)"/>'
    return _svg(b'width="20" height="20"', body)


@pytest.mark.parametrize("how", ["attribute", "style", "sheet", "inherited",
                                 "style-escaped", "sheet-escaped"])
def test_svg_nested_patterns_are_refused(how):
    with pytest.raises(ImageTooLarge) as exc:
        sanitise(_pattern_bomb(how), Limits())
    assert exc.value.code == "IMAGE_TOO_LARGE"


@pytest.mark.parametrize("body", [
    # a pattern whose tile is filled with itself
    b'<pattern id="p" width="2" height="2"><rect width="2" height="2" fill="url(#p) red"/></pattern>'
    b'<rect width="5" height="5" fill="url(#p)"/>',
    # a marker drawn on its own path
    b'<marker id="m"><path d="M0 0 L1 1" marker-start="url(#m)"/></marker>'
    b'<path d="M0 0 L5 5" marker-end="url(#m)"/>',
    # a filter drawing (feImage) the group that uses it
    b'<filter id="f"><feImage href="#g"/></filter><g id="g" filter="url(#f)"><rect width="5" height="5"/></g>',
    # a mask masked by itself
    b'<mask id="k" mask="url(#k)"><rect width="5" height="5"/></mask><rect width="5" height="5" mask="url(#k)"/>',
    # gradients inheriting from each other
    b'<linearGradient id="a" href="#b"/><linearGradient id="b" href="#a"/>'
    b'<rect width="5" height="5" fill="url(#a)"/>',
], ids=["pattern", "marker", "filter", "mask", "gradient-href"])
def test_svg_reference_cycles_are_refused(body):
    with pytest.raises(ImageTooLarge):
        sanitise(_svg(b'width="5" height="5"', body), Limits())


def test_svg_markers_count_per_vertex():
    # 300 vertices, each with a marker holding 300 vertices of markers: 90 000 draws.
    points = b" ".join(b"%d,%d" % (i % 7, i % 5) for i in range(300))
    body = (b'<marker id="inner"><rect width="1" height="1"/></marker>'
            b'<marker id="outer"><polyline points="%s" marker-mid="url(#inner)"/></marker>'
            b'<polyline points="%s" marker-mid="url(#outer)"/>' % (points, points))
    with pytest.raises(ImageTooLarge):
        sanitise(_svg(b'width="5" height="5"', body), Limits())


def test_svg_ordinary_references_are_accepted(opts):
    # One pattern under 200 rects, one gradient through a sheet under 2000 more: no bomb.
    rects = b"".join(b'<rect x="%d" width="1" height="1" fill="url(#p)"/>' % (i % 20) for i in range(200))
    dots = b"".join(b'<rect class="g" x="%d" y="10" width="1" height="1"/>' % (i % 20) for i in range(2000))
    body = (b'<style>.g { fill: url(#grad) }</style>'
            b'<defs><pattern id="p" width="2" height="2" patternUnits="userSpaceOnUse">'
            b'<rect width="1" height="1" fill="#ff0000"/></pattern>'
            b'<linearGradient id="grad"><stop offset="0" stop-color="#00f"/><stop offset="1" stop-color="#0f0"/>'
            b'</linearGradient></defs>' + rects + dots)
    svg = _svg(b'width="20" height="20"', body)
    assert sanitise(svg, Limits())[1] == (20, 20)
    got = decode(convert(svg, opts(format="png")).data)
    assert (got.mode, got.size) == ("RGBA", (20, 20))


# A '<!DOCTYPE x>' inside a comment came first: a scan of the bytes found it,
# saw no '[' and let the real internal subset after it through (its <!ATTLIST
# gives every <use> an external href by default). UTF-16 hides it from any
# scan of the bytes. The parser's own StartDoctypeDecl decides.
HIDDEN_SUBSET = ('<!-- <!DOCTYPE x> -->'
                 '<!DOCTYPE svg [<!ATTLIST use href CDATA "#r">]>'
                 '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                 '<rect id="r" width="1" height="1"/><use/></svg>')


@pytest.mark.parametrize("encoded", [
    HIDDEN_SUBSET.encode("utf-8"),
    ('<?xml version="1.0" encoding="UTF-16"?>' + HIDDEN_SUBSET).encode("utf-16"),
], ids=["after-comment", "utf-16"])
def test_svg_internal_subset_is_refused_whatever_comes_before(encoded):
    with pytest.raises(UnsupportedFormat) as exc:
        sanitise(encoded, Limits())
    assert exc.value.details == {"reason": "DTD internal subset"}


# CSS escapes (CSS Syntax 4.3.7): tinycss2, and so CairoSVG, reads each of these
# as url( or @import; a regex over the raw text did not.
@pytest.mark.parametrize("body", [
    b'<rect width="5" height="5" style="fill: \\75 rl(http://evil.test/a.png)"/>',
    b'<rect width="5" height="5" style="fill: \\000075\trl(http://evil.test/a.png)"/>',
    b'<rect width="5" height="5" style="fill: u\\rl(file:///etc/passwd)"/>',
    b'<rect width="5" height="5" style="fill: U\\52 L(http://evil.test/a.png)"/>',
    b'<style>rect { fill: \\75 r\\6c(http://evil.test/a.png) }</style><rect width="5" height="5"/>',
    b'<style>@\\69mport "http://evil.test/a.css";</style>',
], ids=["hex-space", "hex-6-tab", "char", "upper", "sheet", "import"])
def test_svg_css_escapes_do_not_hide_references(body):
    with pytest.raises(UnsupportedFormat):
        sanitise(_svg(b'width="5" height="5"', body), Limits())


def test_svg_css_escaped_internal_reference_is_accepted():
    body = (b'<linearGradient id="g1"><stop offset="0" stop-color="#00f"/></linearGradient>'
            b'<rect width="5" height="5" style="fill: \\75 rl(#g\\31)"/>')
    assert sanitise(_svg(b'width="5" height="5"', body), Limits())[1] == (5, 5)


def _nested(levels):
    """<g> nested `levels` deep under the root, a red rect at the bottom."""
    return _svg(b'width="5" height="5"',
                b"<g>" * levels + b'<rect width="5" height="5" fill="#ff0000"/>' + b"</g>" * levels)


def _use_chain(length, levels=0):
    """`length` <use> in <defs>, each drawing the next, the last a red rect;
    one <use> under `levels` nested <g> draws the chain."""
    uses = b"".join(b'<use id="u%d" href="#u%d"/>' % (i, i + 1) for i in range(length))
    return _svg(b'width="5" height="5"',
                b'<defs><rect id="u%d" width="5" height="5" fill="#ff0000"/>%s</defs>' % (length, uses)
                + b"<g>" * levels + b'<use href="#u0"/>' + b"</g>" * levels)


@pytest.mark.parametrize("svg", [
    _nested(1200), _nested(MAX_DEPTH), _use_chain(3000), _use_chain(MAX_DEPTH),
    # each under the limit alone (the chain counted first, from <defs>), not together
    _use_chain(MAX_DEPTH // 2 + 10, levels=MAX_DEPTH // 2),
], ids=["nested-1200", "nested-over-limit", "use-chain-3000", "use-chain-over-limit", "chain-under-groups"])
def test_svg_nesting_depth_is_refused(svg):
    # Once a RecursionError in the reference count, reported as CORRUPT_IMAGE.
    with pytest.raises(ImageTooLarge) as exc:
        sanitise(svg, Limits())
    assert exc.value.details == {"limit": MAX_DEPTH}
    assert "levels deep" in str(exc.value)


@pytest.mark.parametrize("svg", [_nested(MAX_DEPTH - 2), _use_chain(MAX_DEPTH - 3)], ids=["nested", "use-chain"])
def test_svg_nesting_at_the_depth_limit_renders(svg, opts):
    got = decode(convert(svg, opts(format="png")).data)
    assert got.getpixel((2, 2))[:3] == (255, 0, 0)


def test_svg_decoy_ids_do_not_hide_nested_uses():
    # A decoy attack: each group's id is given again to an empty decoy.
    # CairoSVG's <use> takes the first (40**3 rects drawn); a count keeping the
    # last saw ~130 and let it through, to render for minutes.
    from tests.attacks import decoy_id_svg
    with pytest.raises(UnsupportedFormat) as exc:
        sanitise(decoy_id_svg(), Limits())
    assert "more than one element" in exc.value.message


def test_svg_duplicate_id_is_refused_even_without_references():
    body = b'<rect id="r" width="1" height="1"/><rect id="r" width="2" height="2"/>'
    with pytest.raises(UnsupportedFormat):
        sanitise(_svg(b'width="5" height="5"', body), Limits())


def test_svg_render_work_is_bounded():
    # 2,000 canvas-sized rects (under MAX_ELEMENTS) at 6000x6000: 7.2e10
    # element-pixels, a minute of CairoSVG; the same drawing at 1000x1000 is fine.
    from convertix.imaging.svg import MAX_RENDER_WORK
    rects = b'<rect width="100%" height="100%" fill="#123"/>' * 2000
    with pytest.raises(ImageTooLarge) as exc:
        sanitise(_svg(b'width="6000" height="6000"', rects), Limits())
    assert exc.value.details["limit"] == MAX_RENDER_WORK
    assert sanitise(_svg(b'width="1000" height="1000"', rects), Limits())[1] == (1000, 1000)


# One element's checks (svg.py's tables): (the element, the refusal's reason, or None: accepted)
ELEMENT_CHECKS = [
    (b'<script/>', "<script> element"),
    (b'<foreignObject/>', "<foreignObject> element"),
    (b'<handler/>', "<handler> element"),
    (b'<x:include xmlns:x="http://www.w3.org/2001/XInclude"/>', "<include> element"),
    (b'<x:any xmlns:x="http://www.w3.org/2001/XInclude"/>', "<any> element"),  # the namespace
    (b'<g:script xmlns:g="urn:other"/>', "<script> element"),  # the local name, any namespace
    (b'<image href="http://e/a.png"/>', "reference href='http://e/a.png' outside the document"),
    (b'<image xmlns:l="http://www.w3.org/1999/xlink" l:href="a.png"/>',
     "reference href='a.png' outside the document"),
    (b'<a src="x"/>', "reference src='x' outside the document"),
    (b'<use href=" #a"/><g id="a"/>', None),  # inside the document, spaces around
    (b'<rect fill="url(http://e/p)"/>', "external url(http://e/p) in attribute fill"),
    (b'<rect style="fill:u\\rl(x)"/>', "external url(x) in attribute style"),  # a CSS escape
    (b'<rect fill="url(#p)"/><pattern id="p"/>', None),
    (b'<style>@import "x";</style>', "CSS @import in <style>"),
    (b'<style>a{fill:url(e.svg)}</style>', "external url(e.svg) in <style>"),
    (b'<g><style>@\\69mport "x";</style></g>', "CSS @import in <style>"),
    (b'<text>@import url(x)</text>', None),  # not CSS: only <style> text is
    (b'<rect class="a"/>', None),
]


@pytest.mark.parametrize("body, reason", ELEMENT_CHECKS)
def test_svg_element_checks(body, reason):
    svg = _svg(b'width="5" height="5"', body)
    if reason is None:
        assert sanitise(svg, Limits())[1] == (5, 5)
        return
    with pytest.raises(UnsupportedFormat) as refused:
        sanitise(svg, Limits())
    assert refused.value.details == {"reason": reason}
