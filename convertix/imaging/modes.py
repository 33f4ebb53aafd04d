"""Pixel-mode normalisation: every frame goes through the pipeline as RGB or RGBA.

One working mode pair keeps the operations and encoders simple; each
encoder then converts to what its format needs (encode.py).
"""
from PIL import ImageCms

# Modes that carry alpha, converted to RGBA.
ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# Modes that are converted to RGB directly.
DIRECT_RGB = frozenset({"1", "L", "RGB", "YCbCr", "LAB", "HSV", "RGBX"})


def _sixteen_bit(im):
    # Pillow's convert() from 16/32-bit integer clips at 255; scale to 8 bits instead.
    return im.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")


def _float(im):
    return im.point(lambda v: v * 255 if im.getextrema()[1] <= 1.0 else v).convert("L").convert("RGB")


def _cmyk(im):
    # Convert through the embedded profile when there is one, so colours stay
    # right; the output is then sRGB and carries no CMYK profile.
    icc = im.info.get("icc_profile")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(__import__("io").BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            out.info.pop("icc_profile", None)
            return out
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    out = im.convert("RGB")
    out.info.pop("icc_profile", None)
    return out


def _palette(im):
    if "transparency" in im.info or im.palette and im.palette.mode == "RGBA":
        return im.convert("RGBA")
    return im.convert("RGB")


SPECIAL = {
    "CMYK": _cmyk,
    "P": _palette,
    "I": _sixteen_bit,
    "I;16": _sixteen_bit,
    "I;16L": _sixteen_bit,
    "I;16B": _sixteen_bit,
    "I;16N": _sixteen_bit,
    "F": _float,
}


def to_working(im):
    """`im` as RGB or RGBA, keeping info (ICC, EXIF) where it still applies."""
    info = dict(im.info)
    if im.mode in ("RGB", "RGBA"):
        return im
    if im.mode in ALPHA_MODES:
        out = im.convert("RGBA")
    elif im.mode in SPECIAL:
        out = SPECIAL[im.mode](im)
    elif im.mode in DIRECT_RGB:
        out = im.convert("RGB")
    else:
        out = im.convert("RGBA")
    if im.mode != "CMYK":
        out.info.update({k: v for k, v in info.items() if k not in out.info})
    return out

