"""PNG through libvips against the Pillow path: the same mode, size and
pixels (PNG is lossless: exact), the ICC profile kept, nothing else of
libvips' metadata written; what libvips cannot write exactly goes to Pillow."""
import struct

import pytest
from PIL import Image, ImageCms

from convertix.imaging import convert, encode, vipspng
from tests.unit.conftest import decode, encoded, photo

pytestmark = pytest.mark.skipif(not vipspng.available(), reason="libvips does not load here")

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def chunks(data):
    out, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        out.append(data[i + 4:i + 8].decode())
        i += 12 + n
    return out


def noisy(mode, size=(301, 203)):
    """Gradients plus noise in every channel: every row filter gets used."""
    base = photo(size, "RGBA" if "A" in mode else "RGB")
    noise = Image.effect_noise(size, 40).convert("RGB")
    if "A" in mode:
        noise = noise.convert("RGBA")
    mixed = Image.blend(base, noise, 0.3)
    return mixed.convert(mode)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_same_pixels_as_pillow(mode):
    im = noisy(mode)
    fast = vipspng.encode_frame(im, None)
    assert fast is not None
    ours, pillows = decode(fast), decode(encoded(im, "PNG", compress_level=6))
    assert (ours.mode, ours.size) == (pillows.mode, pillows.size) == (mode, im.size)
    assert ours.tobytes() == pillows.tobytes() == im.tobytes()
    # libvips' own EXIF block and text chunks are not written
    assert not {"eXIf", "tEXt", "iTXt", "zTXt", "iCCP"} & set(chunks(fast))


def test_the_icc_profile_is_kept():
    data = vipspng.encode_frame(noisy("RGB"), SRGB)
    assert "iCCP" in chunks(data) and decode(data).info["icc_profile"] == SRGB


@pytest.mark.parametrize("frame, kwargs", [
    (Image.new("P", (8, 8)), {}),                       # a mode libvips is not given
    (Image.new("I;16", (8, 8)), {}),
    (Image.new("RGB", (8, 8)), {"exif": b"Exif\0\0MM\0*\0\0\0\x08\0\0"}),  # Pillow's eXIf
    (Image.new("RGB", (8, 8)), {"save_all": True}),     # animation
])
def test_what_libvips_cannot_write_exactly_goes_to_pillow(frame, kwargs):
    assert vipspng.encode([frame], kwargs) is None


@pytest.mark.parametrize("options", [
    {"format": "png"},
    {"format": "png", "width": 200, "grayscale": True},
    {"format": "png", "width": 150, "rotate": 90, "background": "#336699"},
])
def test_convert_gives_the_pillow_paths_pixels(opts, monkeypatch, options):
    source = encoded(noisy("RGBA", (400, 300)), "PNG")
    fast = convert(source, opts(**options))
    monkeypatch.setattr(encode, "FAST_ENCODERS", {})
    slow = convert(source, opts(**options))
    a, b = decode(fast.data), decode(slow.data)
    assert (a.mode, a.size, a.tobytes()) == (b.mode, b.size, b.tobytes())
    assert (fast.width, fast.height, fast.format) == (slow.width, slow.height, slow.format)
    assert fast.data != slow.data  # it really was the other encoder
