"""Decoding: bounded, from an explicit decoder per sniffed format.

Pillow opens lazily, so the header's size and frame count are checked
against Limits before any pixel is decoded. Pillow's own bomb check uses
Image.MAX_IMAGE_PIXELS, and its DecompressionBombWarning is an error here.
ImageMagick reads what Pillow cannot (formats.MAGICK_CODERS); SVG is
sanitised, then rendered by CairoSVG (svgrender.py). load() is called exactly once per frame: a second load() of a
broken PNG silently returns garbage.
"""
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image

from convertix.errors import ConvertixError, CorruptImage, ImageTooLarge, UnsupportedFormat

from . import magick, modes, orientation, svg, svgrender
from .formats import MAGICK_CODERS, PILLOW_FORMATS


@dataclass
class Decoded:
    frames: list                # RGB/RGBA Pillow images, upright when auto_orient
    durations: list
    loop: int
    width: int                  # of the input as stored (header size)
    height: int
    n_frames: int
    meta: dict = field(default_factory=dict)   # icc_profile, exif (bytes, orientation 1)


def check_header(width, height, n_frames, limits):
    problems = {
        "width": width > limits.max_width,
        "height": height > limits.max_height,
        "pixels": width * height > limits.max_pixels,
        "frames": n_frames > limits.max_frames,
    }
    over = [k for k, v in problems.items() if v]
    if over:
        raise ImageTooLarge(
            f"image of {width}x{height} pixels and {n_frames} frame(s) is over the limit ({', '.join(over)})",
            details={"width": width, "height": height, "frames": n_frames, "limit": over[0]})


def _meta(im, auto_orient):
    meta = {}
    if im.info.get("icc_profile") and im.mode != "CMYK":  # CMYK goes to sRGB (modes.py)
        meta["icc_profile"] = im.info["icc_profile"]
    try:
        exif = im.getexif()
        if exif and auto_orient:
            exif[orientation.ORIENTATION_TAG] = 1
        meta["exif"] = exif.tobytes() if exif else None
    except Exception:  # unreadable EXIF is dropped, not fatal
        meta["exif"] = None
    return meta


def _open_pillow(data, fmt):
    # UnidentifiedImageError propagates: decode() may still try ImageMagick.
    return Image.open(io.BytesIO(data), formats=PILLOW_FORMATS[fmt])


def _draft(im, fmt, options, draft_target):
    if fmt == "jpeg" and draft_target and im.format == "JPEG":
        target = draft_target(im.size)
        if target:
            im.draft("RGB" if im.mode not in ("L", "CMYK") else im.mode, target)


def _pillow_frames(im, options, fmt, limits):
    """(frames, durations, n_frames, orientation, meta); each frame loaded once."""
    n = getattr(im, "n_frames", 1)
    keep = n if options.get("animated", True) else 1
    auto = options.get("auto_orient", True)
    frames, durations, turn, meta = [], [], 1, {}
    for i in range(keep):
        if i:
            im.seek(i)
        im.load()
        if not i:
            # After the first load(): PNG's getexif() would load() again otherwise.
            turn = orientation.read(im) if auto else 1
            meta = _meta(im, auto)
        frames.append(im.copy() if keep > 1 else im)
        durations.append(int(im.info.get("duration") or 100))
    return frames, durations, n, turn, meta


def decode_pillow(data, fmt, options, limits, draft_target=None):
    im = _open_pillow(data, fmt)
    width, height = im.size
    check_header(width, height, getattr(im, "n_frames", 1), limits)
    _draft(im, fmt, options, draft_target)
    # MPO/ICNS/TIFF pages are not animation frames: only these inputs animate.
    want_all = options.get("animated", True) and options["format"] in ANIMATED_OUT and fmt in ANIMATED_IN
    frames, durations, n, turn, meta = _pillow_frames(im, dict(options, animated=want_all), fmt, limits)
    frames = [orientation.apply(modes.to_working(f), turn) for f in frames]
    return Decoded(frames, durations, int(im.info.get("loop", 0) or 0), width, height, n, meta)


def decode_magick(data, fmt, limits):
    coder = MAGICK_CODERS[fmt]
    try:
        # Header first, as for Pillow: ImageMagick decodes every page on read.
        width, height, n_frames = magick.ping(data, coder)
        check_header(width, height, n_frames, limits)
        im = magick.read(data, coder)
    except magick.MagickUnavailable as exc:
        raise UnsupportedFormat(f"{fmt} needs ImageMagick, which is not available here") from exc
    check_header(im.width, im.height, 1, limits)
    return Decoded([im], [100], 0, im.width, im.height, n_frames, {})


def decode_svg(data, limits):
    clean, size = svg.sanitise(data, limits)  # size already checked against limits
    im = modes.to_working(svgrender.render(clean, size))
    check_header(im.width, im.height, 1, limits)
    return Decoded([im], [100], 0, im.width, im.height, 1, {})


# TIFF compressions Pillow's libtiff lacks here (WebP, ZSTD): only those go to
# ImageMagick. A JPEG- or LZW-compressed TIFF that Pillow fails on is damaged,
# and ImageMagick's leniency (it decodes fuzzed files) would hide that.
TIFF_MAGICK_COMPRESSIONS = frozenset({50000, 50001})
TIFF_COMPRESSION_TAG = 259


def _tiff_needs_magick(data):
    try:
        with Image.open(io.BytesIO(data), formats=["TIFF"]) as im:
            return im.tag_v2.get(TIFF_COMPRESSION_TAG) in TIFF_MAGICK_COMPRESSIONS
    except Exception:
        return False


# Format -> may ImageMagick retry what Pillow failed to decode?
MAGICK_RETRY = {
    "bmp": lambda data: True,   # bitfield/alpha variants Pillow does not implement
    "tiff": _tiff_needs_magick,
}


def _magick_may_retry(data, fmt):
    return MAGICK_RETRY.get(fmt, lambda data: False)(data)


# Output formats that can keep animation (mirrors encode.ANIMATED).
ANIMATED_OUT = frozenset({"gif", "webp", "png"})
ANIMATED_IN = frozenset({"gif", "webp", "png"})


def decode(data, fmt, options, limits, draft_target=None):
    """Decode `data` (sniffed as `fmt`) into a Decoded, raising only ConvertixErrors."""
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            if fmt == "svg":
                return decode_svg(data, limits)
            if fmt not in PILLOW_FORMATS:
                return decode_magick(data, fmt, limits)
            try:
                return decode_pillow(data, fmt, options, limits, draft_target)
            except (ConvertixError, MemoryError, Image.DecompressionBombError,
                    Image.DecompressionBombWarning):
                raise
            except Exception as first:
                if fmt not in MAGICK_CODERS or not _magick_may_retry(data, fmt):
                    raise
                # Pillow cannot read some valid BMP/TIFF variants; ImageMagick can.
                try:
                    return decode_magick(data, fmt, limits)
                except ConvertixError:
                    raise
                except Exception:
                    raise first
        except ConvertixError:
            raise
        except (MemoryError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"image is too large to decode: {exc}") from exc
        except Exception as exc:
            raise CorruptImage(f"cannot decode this {fmt} image: {type(exc).__name__}: {exc}",
                               details={"format": fmt}) from exc
