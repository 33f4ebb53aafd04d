"""The ImageMagick fallback: header limits before any pixel is decoded."""
import pytest

from convertix.errors import ImageTooLarge
from convertix.imaging import Limits, convert, magick

from .conftest import corpus_bytes, decode

# Pillow refuses this BMP's bitfields layout while opening it, so no Pillow
# header check runs: ImageMagick is the first and only reader.
BITFIELDS_BMP = "valid/bmp/bmpsuite/g-rgb32bf.bmp"


@pytest.mark.parametrize("limits", [Limits(max_width=100), Limits(max_pixels=127 * 63)],
                         ids=["width", "pixels"])
def test_magick_header_checked_before_read(opts, monkeypatch, limits):
    def no_decode(*args, **kwargs):
        raise AssertionError("ImageMagick decoded pixels before the header check")

    monkeypatch.setattr(magick, "read", no_decode)
    with pytest.raises(ImageTooLarge) as exc:
        convert(corpus_bytes(BITFIELDS_BMP), opts(format="png"), limits)
    assert (exc.value.details["width"], exc.value.details["height"]) == (127, 64)


def test_magick_reads_within_limits(opts):
    out = convert(corpus_bytes(BITFIELDS_BMP), opts(format="png"))
    got = decode(out.data)
    assert (got.mode, got.size) == ("RGB", (127, 64))
    assert (out.input.format, out.input.width, out.input.height, out.input.frames) == ("bmp", 127, 64, 1)
