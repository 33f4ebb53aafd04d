"""EXIF/XMP orientation, applied to every frame.

JPEG, WebP, PNG and AVIF only report the tag (Pillow turns AVIF irot/imir
into an EXIF orientation); TIFF is rotated by Pillow inside load() and the tag
removed; pillow-heif applies HEIF transforms while decoding. So reading the
tag after load() and applying it never rotates twice.
"""
import re

from PIL import Image

ORIENTATION_TAG = 0x0112

# EXIF orientation -> the transpose that makes the image upright.
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

SWAPS_SIDES = frozenset({5, 6, 7, 8})

_XMP = (re.compile(r'tiff:Orientation="([0-9])"'),
        re.compile(r"<tiff:Orientation>([0-9])</tiff:Orientation>"))


def read(im):
    """The orientation 1..8 of an opened image (1 when absent or out of range)."""
    try:
        value = im.getexif().get(ORIENTATION_TAG)
    except Exception:  # a broken EXIF block is not worth failing the image for
        value = None
    if not value:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
        if isinstance(xmp, bytes):
            xmp = xmp.decode("utf-8", "replace")
        for pattern in _XMP:
            m = pattern.search(xmp)
            if m:
                value = int(m.group(1))
                break
    return value if value in TRANSPOSE else 1


def apply(frame, orientation):
    method = TRANSPOSE.get(orientation)
    return frame.transpose(method) if method is not None else frame
