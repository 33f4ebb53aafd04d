"""Format tables, sniffing and the output round trip of every capability."""
import gzip

import pytest
from PIL import Image

from convertix.errors import UnsupportedFormat
from convertix.imaging import capabilities, convert, extension, mime_type, sniff
from convertix.options import FIELDS

from .conftest import decode, encoded, photo

# Output format -> decoded mode for an (RGB, RGBA) source. PDF is checked by header.
EXPECTED_MODES = {
    "avif": ("RGB", "RGBA"), "bmp": ("RGB", "RGB"), "gif": ("P", "P"),
    "heic": ("RGB", "RGBA"), "ico": ("RGB", "RGBA"), "jpeg": ("RGB", "RGB"),
    "png": ("RGB", "RGBA"), "tiff": ("RGB", "RGBA"), "webp": ("RGB", "RGBA"),
}


def test_capabilities_shape(caps):
    assert {"jpeg", "png", "webp", "gif"} <= set(caps["output"])
    assert {"jpeg", "png", "webp", "gif", "tiff", "bmp", "svg"} <= set(caps["input"])
    assert not {"eps", "ps", "pdf", "xps", "wmf", "emf"} & set(caps["input"])
    assert caps["operations"] == [f for f in FIELDS if f != "format"]
    assert capabilities() is caps  # cached


@pytest.mark.parametrize("mode_index,mode", enumerate(["RGB", "RGBA"]))
@pytest.mark.parametrize("fmt", sorted(EXPECTED_MODES) + ["pdf"])
def test_output_round_trip(caps, opts, fmt, mode_index, mode):
    if fmt not in caps["output"]:
        pytest.fail(f"{fmt} is expected to be writable here")
    out = convert(encoded(photo((64, 48), mode)), opts(format=fmt))
    assert (out.format, out.mime, out.width, out.height) == (fmt, mime_type(fmt), 64, 48)
    if fmt == "pdf":
        assert out.data.startswith(b"%PDF")
        return
    got = decode(out.data)
    assert got.size == (64, 48)
    assert got.mode == EXPECTED_MODES[fmt][mode_index]


def test_ico_is_at_most_256(opts):
    out = convert(encoded(photo((600, 300))), opts(format="ico"))
    assert decode(out.data).size == (256, 128)


@pytest.mark.parametrize("fmt,mime,ext", [("jpeg", "image/jpeg", "jpg"), ("png", "image/png", "png"),
                                          ("webp", "image/webp", "webp"), ("tiff", "image/tiff", "tif"),
                                          ("pdf", "application/pdf", "pdf")])
def test_tables(fmt, mime, ext):
    assert (mime_type(fmt), extension(fmt)) == (mime, ext)


@pytest.mark.parametrize("pil,name", [("PNG", "png"), ("JPEG", "jpeg"), ("GIF", "gif"), ("WEBP", "webp"),
                                      ("TIFF", "tiff"), ("BMP", "bmp"), ("ICO", "ico")])
def test_sniff_raster(pil, name):
    assert sniff(encoded(photo((32, 32)), pil)) == name


def test_sniff_svg_and_svgz():
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    assert sniff(svg) == "svg"
    assert sniff(gzip.compress(svg)) == "svg"
    assert sniff(gzip.compress(b"hello")) is None


def test_sniff_refusals():
    assert sniff(b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n") == "pdf"
    assert sniff(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n") in ("eps", "ps")
    assert sniff(b"") is None


@pytest.mark.parametrize("data", [b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", b"%!PS-Adobe-3.0\n", b"not an image"])
def test_refused_inputs(opts, data):
    with pytest.raises(UnsupportedFormat):
        convert(data, opts(format="png"))


def test_svg_named_nothing_renders_only_as_svg(opts):
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10">'
           b'<rect width="20" height="10" fill="red"/></svg>')
    out = convert(svg, opts(format="png"))
    got = decode(out.data).convert("RGBA")
    assert got.size == (20, 10) and got.getpixel((5, 5))[:3] == (255, 0, 0)


@pytest.mark.parametrize("rle", [False, True], ids=["raw", "rle"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_sniff_and_convert_tga(opts, mode, rle):
    # Uncompressed truecolour TGA starts 00 00 02 00, like a CUR file.
    source = photo((32, 24), "RGBA" if mode == "RGBA" else "RGB").convert(mode)
    data = encoded(source, "TGA", rle=rle)
    assert sniff(data) == "tga"
    got = decode(convert(data, opts(format="png")).data)
    assert (got.mode, got.size) == ("RGBA" if mode == "RGBA" else "RGB", (32, 24))
    assert got.tobytes() == source.convert(got.mode).tobytes()


def test_sniff_icon_and_cursor():
    ico = encoded(Image.new("RGBA", (32, 32), (255, 0, 0, 128)), "ICO", sizes=[(16, 16), (32, 32)])
    assert sniff(ico) == "ico"
    assert sniff(ico[:2] + b"\x02" + ico[3:]) == "cur"  # the same directory, type 2
