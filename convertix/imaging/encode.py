"""Encoders: one small function per output format, chosen from a table.

Alpha is flattened onto `background` for formats without it (JPEG, BMP, PDF).
ICO: the image is shrunk (aspect kept) to fit 256x256, one icon entry.
Metadata: the ICC profile is kept when it describes the written channels
(CMYK input was converted to sRGB first, see modes.py; grayscale drops an RGB
profile); EXIF only with strip_metadata=false, with its
orientation already reset to 1; XMP is never written (it can carry a stale
orientation and location data).
"""
import io

from PIL import Image

from . import vipspng
from .operations import colour

# Formats whose encoder can write several frames (all from Pillow).
ANIMATED = frozenset({"gif", "webp", "png"})
# Formats that cannot store alpha: flattened onto the background colour.
NO_ALPHA = frozenset({"jpeg", "bmp", "pdf"})
ICO_MAX = 256
# AVIF encoder speed: 6 is ~5x faster than 5 with no smaller files.
AVIF_SPEED = 6


def flatten(im, background):
    """Without alpha, onto the background: grey stays grey (L), the rest RGB."""
    if im.mode in ("RGB", "L"):
        return im
    if im.mode not in ("RGBA", "LA"):
        return im.convert("RGB")
    mode = "L" if im.mode == "LA" else "RGB"
    base = Image.new(mode, im.size, colour(background, mode))
    base.paste(im, mask=im.getchannel("A"))
    base.info = dict(im.info)
    return base


# ICC header colour space (bytes 16-19) -> the modes it describes. A profile
# for other channels (an RGB profile on a grayscale=true L image) is invalid
# and dropped: readers then assume sRGB, or plain grey.
ICC_SPACE_MODES = {b"RGB ": frozenset({"RGB", "RGBA"}), b"GRAY": frozenset({"L", "LA"})}


def _icc_fits(icc, mode):
    return mode in ICC_SPACE_MODES.get(bytes(icc[16:20]), ())


def _meta(options, meta, *, exif=True, icc=True):
    kw = {}
    if icc and meta.get("icc_profile"):
        kw["icc_profile"] = meta["icc_profile"]
    if exif and not options["strip_metadata"] and meta.get("exif"):
        kw["exif"] = meta["exif"]
    return kw


def _animation(frames, durations, loop):
    if len(frames) < 2:
        return {}
    return {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": loop}


# Optimized Huffman tables (a second pass; the same pixels) up to this many
# output pixels, as thumbor always does: a 256x144 thumbnail 27% smaller for
# 0.03 ms, 1024x768 17% for 2 ms; a 12 MP output only 8%, for 3x the encode time.
JPEG_OPTIMIZE_MAX_PIXELS = 2_000_000


def _jpeg(frames, options, meta, anim):
    small = frames[0].width * frames[0].height <= JPEG_OPTIMIZE_MAX_PIXELS
    return "JPEG", {"quality": options["quality"], "progressive": options["progressive"],
                    "optimize": options["progressive"] or small, **_meta(options, meta)}


def _png(frames, options, meta, anim):
    return "PNG", {"compress_level": 6, **_meta(options, meta), **anim}


def _webp(frames, options, meta, anim):
    return "WEBP", {"quality": options["quality"], "lossless": options["lossless"],
                    "method": 4, **_meta(options, meta), **anim}


def _avif(frames, options, meta, anim):
    # Near-lossless only: Pillow's AVIF encoder always converts RGB to YUV
    # with the BT.601 matrix (no identity matrix), so 4:4:4 at quality 100 is
    # as close as it gets (each channel within a few levels).
    lossless = options["lossless"]
    return "AVIF", {"quality": 100 if lossless else options["quality"], "speed": AVIF_SPEED,
                    "subsampling": "4:4:4" if lossless else "4:2:0", **_meta(options, meta)}


# pillow-heif: quality=-1 is x265's lossless mode, but the RGB -> YCbCr 4:2:0
# conversion before it still loses; 4:4:4 with the identity matrix (RGB
# stored as GBR planes) makes the whole path lossless.
HEIC_LOSSLESS = {"quality": -1, "chroma": 444, "matrix_coefficients": 0}


def _heic(frames, options, meta, anim):
    quality = HEIC_LOSSLESS if options["lossless"] else {"quality": options["quality"]}
    return "HEIF", {**quality, **_meta(options, meta)}


def _gif(frames, options, meta, anim):
    return "GIF", {"disposal": 2, **anim} if anim else {}


GPS_IFD = 0x8825


def _has_gps(exif_bytes):
    if not exif_bytes:
        return False
    exif = Image.Exif()
    exif.load(exif_bytes)
    return GPS_IFD in exif


def _tiff(frames, options, meta, anim):
    kw = _meta(options, meta)
    # Compressed TIFFs are written by libtiff, which refuses a nested GPS IFD
    # ("Error setting from dictionary"); Pillow's own writer stores it, but
    # only uncompressed. Keeping the metadata asked for wins over file size.
    compression = "raw" if _has_gps(kw.get("exif")) else "tiff_adobe_deflate"
    return "TIFF", {"compression": compression, **kw}


def _bmp(frames, options, meta, anim):
    return "BMP", {}


def _ico(frames, options, meta, anim):
    return "ICO", {"sizes": [frames[0].size]}


def _pdf(frames, options, meta, anim):
    return "PDF", {"resolution": 72.0}


ENCODERS = {
    "jpeg": _jpeg, "png": _png, "webp": _webp, "avif": _avif, "heic": _heic,
    "gif": _gif, "tiff": _tiff, "bmp": _bmp, "ico": _ico, "pdf": _pdf,
}


# Same bytes-in-pixels-out contract, faster, for what they can write exactly:
# (frames, the Pillow keywords) -> bytes, or None to use Pillow.
FAST_ENCODERS = {"png": vipspng.encode}


def prepare(frame, fmt, background):
    """A new image, never `frame` itself, in a mode and size the format can hold,
    with no metadata of its own.

    Encoders read metadata from more than the keywords they are given: from
    im.info (EXIF, XMP, comments), from the cached im.getexif() (pillow-heif)
    and, for a TIFF source, from its IFD tags (IPTC, Photoshop, XMP). The decoder's
    object carries all of these when no operation replaced it, so the encoder
    always gets a plain copy with info cleared; only what _meta passes is written.
    """
    out = frame
    if fmt in NO_ALPHA:
        out = flatten(out, background)
    if fmt == "ico" and (out.width > ICO_MAX or out.height > ICO_MAX):
        out = out.copy()
        out.thumbnail((ICO_MAX, ICO_MAX), Image.Resampling.LANCZOS)
    if out is frame:
        out = frame.copy()  # a plain Image: no TIFF tags, no cached EXIF
    out.info = {}
    return out


def encode(frames, durations, loop, options, meta):
    """Encode `frames` (RGB/RGBA) as options['format']; return (bytes, frames
    written, (width, height) written)."""
    fmt = options["format"]
    if fmt not in ANIMATED:
        frames = frames[:1]
    frames = [prepare(f, fmt, options["background"]) for f in frames]
    if meta.get("icc_profile") and not _icc_fits(meta["icc_profile"], frames[0].mode):
        meta = {k: v for k, v in meta.items() if k != "icc_profile"}
    anim = _animation(frames, durations[:len(frames)], loop)
    pil_format, kwargs = ENCODERS[fmt](frames, options, meta, anim)
    fast = FAST_ENCODERS.get(fmt)
    data = fast(frames, kwargs) if fast else None
    if data is None:
        out = io.BytesIO()
        frames[0].save(out, format=pil_format, **kwargs)
        data = out.getvalue()
    return data, len(frames), frames[0].size
