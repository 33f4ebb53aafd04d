"""convert() on synthetic images: every operation and encoder option."""
import io

import pytest
from PIL import Image, ImageChops, ImageStat

from convertix.errors import ImageTooLarge, InvalidOptions
from convertix.imaging import Limits, convert

from .conftest import decode, encoded, photo

PNG = encoded(photo())


def mean_diff(a, b):
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


@pytest.mark.parametrize("fit,width,height,expected", [
    ("inside", 100, 100, (100, 75)),
    ("contain", 100, 100, (100, 100)),
    ("cover", 100, 100, (100, 100)),
    ("fill", 100, 50, (100, 50)),
    ("outside", 100, 100, (133, 100)),
])
def test_fit_sizes(opts, fit, width, height, expected):
    out = convert(PNG, opts(format="png", width=width, height=height, fit=fit))
    assert (out.width, out.height) == expected
    assert decode(out.data).size == expected


@pytest.mark.parametrize("enlarge,expected", [(False, (320, 240)), (True, (640, 480))])
def test_enlarge(opts, enlarge, expected):
    out = convert(PNG, opts(format="png", width=640, enlarge=enlarge))
    assert decode(out.data).size == expected


def test_crop(opts):
    out = convert(PNG, opts(format="png", crop={"x": 10, "y": 20, "width": 50, "height": 40}))
    got = decode(out.data)
    assert got.size == (50, 40)
    assert mean_diff(got, photo().crop((10, 20, 60, 60))) < 1


def test_crop_out_of_bounds(opts):
    with pytest.raises(InvalidOptions) as exc:
        convert(PNG, opts(format="png", crop={"x": 300, "y": 0, "width": 50, "height": 40}))
    assert exc.value.details["field"] == "crop"


@pytest.mark.parametrize("degrees,expected", [(90, (240, 320)), (180, (320, 240)),
                                              (270, (240, 320)), (-90, (240, 320)), (45, (396, 396))])
def test_rotate_size(opts, degrees, expected):
    got = decode(convert(PNG, opts(format="png", rotate=degrees)).data)
    assert abs(got.width - expected[0]) <= 1 and abs(got.height - expected[1]) <= 1


def test_rotate_is_clockwise(opts):
    got = decode(convert(PNG, opts(format="png", rotate=90)).data)
    assert mean_diff(got, photo().transpose(Image.Transpose.ROTATE_270)) < 1


@pytest.mark.parametrize("field,method", [("flip", Image.Transpose.FLIP_TOP_BOTTOM),
                                          ("flop", Image.Transpose.FLIP_LEFT_RIGHT)])
def test_flip_flop(opts, field, method):
    got = decode(convert(PNG, opts(format="png", **{field: True})).data)
    assert mean_diff(got, photo().transpose(method)) < 1
    assert mean_diff(got, photo()) > 10


def test_grayscale(opts):
    got = decode(convert(PNG, opts(format="png", grayscale=True)).data).convert("RGB")
    r, g, b = got.split()
    assert r.tobytes() == g.tobytes() == b.tobytes()


def test_contain_pads_with_background(opts):
    got = decode(convert(PNG, opts(format="png", width=100, height=100, fit="contain",
                                   background="#ff0000")).data).convert("RGB")
    assert got.getpixel((50, 2)) == (255, 0, 0)
    assert got.getpixel((50, 97)) == (255, 0, 0)


def test_alpha_flattened_for_jpeg(opts):
    transparent = encoded(Image.new("RGBA", (40, 30), (0, 0, 0, 0)))
    got = decode(convert(transparent, opts(format="jpeg", background="#00ff00")).data)
    assert got.mode == "RGB"
    r, g, b = got.getpixel((20, 15))
    assert g > 240 and r < 15 and b < 15


def test_quality_changes_size(opts):
    low = convert(PNG, opts(format="jpeg", quality=10)).data
    high = convert(PNG, opts(format="jpeg", quality=95)).data
    assert len(low) < len(high)


def test_blur_and_sharpen_change_pixels(opts):
    # Edges, so that both filters have something to act on.
    checker = Image.new("RGB", (64, 64), (192, 192, 192))
    for x in range(0, 64, 8):
        for y in range(0, 64, 8):
            if (x + y) // 8 % 2:
                checker.paste((64, 64, 64), (x, y, x + 8, y + 8))
    src = encoded(checker)
    plain = decode(convert(src, opts(format="png")).data)
    for field in ("blur", "sharpen"):
        got = decode(convert(src, opts(format="png", **{field: 5})).data)
        assert got.size == plain.size and mean_diff(got, plain) > 0.05


def _exif_with_gps():
    exif = Image.Exif()
    exif[0x010F] = "Convertix camera"
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 1.0)
    return exif


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_strip_metadata(opts, fmt):
    src = encoded(photo(), "JPEG", exif=_exif_with_gps())
    stripped = decode(convert(src, opts(format=fmt, strip_metadata=True)).data)
    assert not stripped.getexif()
    kept = decode(convert(src, opts(format=fmt, strip_metadata=False)).data).getexif()
    assert kept.get(0x010F) == "Convertix camera"
    assert kept.get_ifd(0x8825).get(1) == "N"


def test_keep_metadata_resets_orientation(opts):
    exif = _exif_with_gps()
    exif[0x0112] = 6
    src = encoded(photo(), "JPEG", exif=exif)
    out = convert(src, opts(format="jpeg", strip_metadata=False))
    got = decode(out.data)
    assert got.size == (240, 320)
    assert got.getexif().get(0x0112) == 1


def _animation(n=4):
    frames = [Image.new("RGB", (32, 24), (i * 60, 255 - i * 60, 0)) for i in range(n)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)


@pytest.mark.parametrize("fmt", ["webp", "gif", "png"])
def test_animation_kept(opts, fmt):
    out = convert(_animation(), opts(format=fmt))
    assert out.frames == 4
    im = Image.open(io.BytesIO(out.data))
    assert getattr(im, "n_frames", 1) == 4


def test_animation_first_frame_only(opts):
    out = convert(_animation(), opts(format="webp", animated=False))
    assert out.frames == 1
    assert getattr(Image.open(io.BytesIO(out.data)), "n_frames", 1) == 1


def test_output_pixel_limit(opts):
    with pytest.raises(ImageTooLarge):
        convert(PNG, opts(format="png", width=4000, height=4000, fit="fill", enlarge=True),
                Limits(max_output_pixels=1_000_000))


def test_header_limits_before_decode(opts):
    with pytest.raises(ImageTooLarge):
        convert(PNG, opts(format="png"), Limits(max_width=100))


def test_converted_metadata(opts):
    out = convert(PNG, opts(format="webp", width=100))
    d = out.to_dict()
    assert d["input"] == {"format": "png", "width": 320, "height": 240, "frames": 1, "bytes": len(PNG)}
    assert (d["format"], d["mime"], d["width"], d["height"]) == ("webp", "image/webp", 100, 75)


def test_progressive_jpeg(opts):
    src = encoded(photo((64, 48)))
    assert not decode(convert(src, opts(format="jpeg")).data).info.get("progressive")
    assert decode(convert(src, opts(format="jpeg", progressive=True)).data).info.get("progressive")


def test_lossless_webp_keeps_every_pixel(opts):
    source = photo((64, 48))
    src = encoded(source)
    lossless = decode(convert(src, opts(format="webp", lossless=True)).data).convert("RGB")
    lossy = decode(convert(src, opts(format="webp", quality=50)).data).convert("RGB")
    assert lossless.tobytes() == source.tobytes()
    assert lossy.tobytes() != source.tobytes()


def test_auto_orient_false_keeps_the_stored_orientation(opts):
    from tests.helpers import corpus_bytes

    data = corpus_bytes("orientation/exif-orientation-examples/Landscape_6.jpg")
    with Image.open(io.BytesIO(data)) as raw:
        stored = raw.size
    upright = decode(convert(data, opts(format="png")).data)
    as_stored = decode(convert(data, opts(format="png", auto_orient=False)).data)
    assert as_stored.size == stored and upright.size == (stored[1], stored[0])


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_lossless_heic_keeps_every_pixel(opts, mode):
    source = photo((64, 48), mode)
    got = decode(convert(encoded(source), opts(format="heic", lossless=True)).data)
    assert (got.mode, got.size) == (mode, (64, 48))
    assert got.tobytes() == source.tobytes()
    lossy = decode(convert(encoded(source), opts(format="heic", quality=90)).data)
    assert lossy.tobytes() != source.tobytes()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_lossless_avif_is_near_lossless(opts, mode):
    # Pillow's AVIF encoder has no identity matrix: within 3 levels, not exact (encode.py).
    source = photo((64, 48), mode)
    got = decode(convert(encoded(source), opts(format="avif", lossless=True)).data)
    assert (got.mode, got.size) == (mode, (64, 48))
    assert max(high for _low, high in ImageChops.difference(got, source).getextrema()) <= 3


def test_rotated_size_checked_before_rotating(opts, monkeypatch):
    # 320x240 at 45 degrees is 396x396 (156 816 pixels) before the resize to 100x100.
    def no_allocation(*args, **kwargs):
        raise AssertionError("rotated before the size check")

    monkeypatch.setattr(Image.Image, "rotate", no_allocation)
    with pytest.raises(ImageTooLarge) as exc:
        convert(PNG, opts(format="png", rotate=45, width=100), Limits(max_output_pixels=150_000))
    assert exc.value.details == {"width": 396, "height": 396}
