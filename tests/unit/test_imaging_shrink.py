"""Decoding at the output's scale: JPEG shrink-on-load (draft) and the
libvips downscale (vipsresize.py) against the full decode + Pillow LANCZOS.

The reference path is the same convert() with both turned off: every frame
decoded at full size and resized by Pillow. The fast path must give the same
size and mode, the same metadata (orientation applied, ICC kept, CMYK made
sRGB) and pixels within a small tolerance.
"""
import io
import math

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from convertix.imaging import Limits, Sandbox, convert, operations, vipsresize

from .conftest import decode, encoded, photo

pytestmark = pytest.mark.skipif(vipsresize.load() is None, reason="libvips does not load here")

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def detailed(size=(1200, 900)):
    """A photo with fine detail (a resampler shows its differences there)."""
    base = photo(size)
    noise = Image.effect_noise(size, 30)
    return Image.merge("RGB", (base.getchannel(0), ImageChops.add(base.getchannel(1), noise, 2.0),
                               base.getchannel(2)))


def psnr(a, b):
    rms = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).rms
    mse = sum(r * r for r in rms) / len(rms)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def mean_diff(a, b):
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


@pytest.fixture
def full_path(monkeypatch):
    """convert() as the reference: full decode, Pillow's LANCZOS."""
    def run(data, options):
        with monkeypatch.context() as m:
            m.setattr(operations, "draft_target", lambda *a: None)
            m.setattr(vipsresize, "resize", lambda im, size: None)
            return convert(data, options)
    return run


@pytest.fixture
def fast_calls(monkeypatch):
    """The sizes vipsresize.resize made (it returned an image for each)."""
    made, real = [], vipsresize.resize

    def spy(im, size):
        out = real(im, size)
        if out is not None:
            made.append(size)
        return out
    monkeypatch.setattr(vipsresize, "resize", spy)
    return made


def jpeg(im, **kw):
    return encoded(im, "JPEG", quality=92, **kw)


def with_orientation(im, n):
    exif = Image.Exif()
    exif[0x0112] = n
    return jpeg(im, exif=exif.tobytes())


CASES = {
    "baseline": (lambda: jpeg(detailed()), "RGB"),
    "progressive": (lambda: jpeg(detailed(), progressive=True), "RGB"),
    "icc": (lambda: jpeg(detailed(), icc_profile=SRGB), "RGB"),
    "orientation 6": (lambda: with_orientation(detailed(), 6), "RGB"),
    "orientation 3": (lambda: with_orientation(detailed(), 3), "RGB"),
    "grayscale": (lambda: jpeg(detailed().convert("L")), "RGB"),
    "cmyk": (lambda: jpeg(detailed().convert("CMYK")), "RGB"),
}


# Output format -> (the most mean difference per channel, the least PSNR in dB)
# against the reference path: WebP's own loss adds to the resamplers' difference
# (measured: PNG ~1.06 / 45 dB, WebP q95 ~1.7 / 40 dB).
TOLERANCE = {"png": (1.5, 40), "webp": (2.5, 36)}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_fast_path_matches_full_decode(opts, full_path, fast_calls, case, fmt):
    make, mode = CASES[case]
    data = make()
    options = opts(format=fmt, width=280, height=280, quality=95)
    ref = full_path(data, options)
    got = convert(data, options)
    assert fast_calls, "the libvips downscale was not used"
    assert (got.width, got.height) == (ref.width, ref.height)
    a, b = decode(got.data), decode(ref.data)
    assert a.size == b.size == (got.width, got.height)
    assert a.mode == b.mode == mode
    assert a.info.get("icc_profile") == b.info.get("icc_profile")
    most_mean, least_psnr = TOLERANCE[fmt]
    assert mean_diff(a, b) < most_mean, case
    assert psnr(a, b) > least_psnr, case


def test_orientation_swaps_the_sides(opts):
    got = decode(convert(with_orientation(detailed((1200, 900)), 6),
                         opts(format="png", width=300, height=300)).data)
    assert got.size == (225, 300)


def test_icc_profile_kept(opts, fast_calls):
    got = decode(convert(jpeg(detailed(), icc_profile=SRGB), opts(format="png", width=300)).data)
    assert fast_calls and got.info.get("icc_profile") == SRGB


def test_quality_at_least_the_pillow_draft_path(opts, monkeypatch):
    """Against the full-resolution reference, the engine's output is at least
    as close as Pillow's draft + LANCZOS (what thumbor does)."""
    src = detailed((2000, 1500))
    data = jpeg(src)
    options = opts(format="png", width=512, height=512)
    reference = decode(data).resize((512, 384), Image.Resampling.LANCZOS)
    fast = decode(convert(data, options).data)
    with monkeypatch.context() as m:
        m.setattr(vipsresize, "resize", lambda im, size: None)
        pillow = decode(convert(data, options).data)
    assert fast.size == pillow.size == (512, 384)
    assert psnr(fast, reference) >= psnr(pillow, reference) - 0.2


@pytest.mark.parametrize("mode,size,target", [
    ("RGB", (640, 480), (320, 240)),
    ("RGB", (640, 480), (100, 33)),      # each side its own factor (fit=fill)
    ("RGB", (4000, 30), (97, 1)),        # a large factor: libvips box-shrinks first
    ("L", (640, 480), (213, 160)),
])
def test_resize_like_pillow(mode, size, target):
    im = detailed(size).convert(mode) if mode != "RGB" else detailed(size)
    im.info["icc_profile"] = SRGB
    got = vipsresize.resize(im, target)
    want = im.resize(target, Image.Resampling.LANCZOS)
    assert got is not None and got.size == target and got.mode == mode
    assert got.info["icc_profile"] == SRGB
    assert mean_diff(got, want) < 2.0


@pytest.mark.parametrize("mode,size,target", [
    ("RGBA", (640, 480), (320, 240)),    # alpha: Pillow resizes premultiplied
    ("RGB", (640, 480), (640, 480)),     # nothing to do
    ("RGB", (640, 480), (1280, 960)),    # enlarging
    ("RGB", (640, 480), (320, 960)),     # larger on one side
    ("P", (64, 48), (32, 24)),
])
def test_resize_declines(mode, size, target):
    assert vipsresize.resize(Image.new(mode, size), target) is None


def test_pipeline_falls_back_to_pillow_for_alpha(opts, fast_calls):
    out = convert(encoded(photo((640, 480), "RGBA")), opts(format="png", width=320))
    got = decode(out.data)
    assert not fast_calls and got.size == (320, 240) and got.mode == "RGBA"


def test_output_jpeg_huffman_optimized_when_small(opts):
    """Small JPEG outputs get optimized Huffman tables, as thumbor writes them."""
    data = jpeg(detailed())
    out = convert(data, opts(format="jpeg", width=256, quality=85)).data
    plain = io.BytesIO()
    decode(out).save(plain, "JPEG", quality=85)
    assert len(out) < len(plain.getvalue())


def test_confined_sandbox_takes_the_same_path(opts):
    """Inside the sandbox child (seccomp, thread and memory limits) libvips
    still resizes: the bytes equal the in-process convert()'s, which differ
    from the Pillow path's."""
    data = jpeg(detailed())
    options = opts(format="webp", width=280, quality=80)
    here = convert(data, options).data
    box = Sandbox(memory_mb=1024)
    box.start()
    try:
        there = box.convert(data, options, Limits(), timeout_s=60).data
    finally:
        box.close()
    assert there == here
