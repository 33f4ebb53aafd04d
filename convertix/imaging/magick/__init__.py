"""ImageMagick (through Wand) for the few inputs Pillow cannot read. Never
SVG: CairoSVG renders that (svgrender.py), and the policy refuses IM's own.

Wand is imported lazily, and only after MAGICK_CONFIGURE_PATH points at this
folder, because ImageMagick reads its policy once, when Wand first loads it.
Every read names its coder explicitly, so bytes are never handed to a coder
ImageMagick picked by sniffing them.
"""
import ctypes
import os
import sys

POLICY_DIR = os.path.dirname(os.path.abspath(__file__))

# Debian 12's libmagickwand-6.q16-6: libMagickWand-6.Q16.so.6
WAND_SUFFIX_FIRST = "-6.Q16"

# Wand's STORAGE_TYPES index for 8-bit samples.
_CHAR_PIXEL = 1

_wand = None

# Coder asked for -> the names ImageMagick may report after reading with it.
_READ_AS = {
    "BMP": {"BMP", "BMP2", "BMP3"},
    "TIFF": {"TIFF", "TIFF64"},
}


class MagickUnavailable(RuntimeError):
    """Wand or ImageMagick cannot be loaded here."""


def wand():
    """The loaded (wand.image, wand.api, wand.exceptions) modules, policy in force."""
    global _wand
    if _wand is None:
        if "wand.api" in sys.modules and os.environ.get("MAGICK_CONFIGURE_PATH") != POLICY_DIR:
            raise MagickUnavailable("wand was imported before the Convertix policy was set")
        os.environ["MAGICK_CONFIGURE_PATH"] = POLICY_DIR
        # Wand looks for libMagickWand with ctypes.util.find_library (an
        # `ldconfig -p` each) through a list of suffixes; Debian's IM 6 is
        # near its end. Trying it first saves ~2 s of every sandbox start;
        # the others are still tried after it.
        os.environ.setdefault("WAND_MAGICK_LIBRARY_SUFFIX", WAND_SUFFIX_FIRST)
        try:
            import wand.api
            import wand.exceptions
            import wand.image
        except ImportError as exc:  # also raised by Wand when libMagickWand is missing
            raise MagickUnavailable(str(exc)) from exc
        _wand = (wand.image, wand.api, wand.exceptions)
    return _wand


def ping(data, coder):
    """(width, height, frames) from the header alone: no pixel is decoded, so
    the caller can check them against Limits before read() allocates anything.
    Raises what Wand raises, or ValueError if the coder reports another format."""
    import warnings

    image_mod, _api, exceptions = wand()
    with warnings.catch_warnings():
        warnings.simplefilter("error", exceptions.WandWarning)
        with image_mod.Image.ping(blob=data, format=coder.lower()) as img:
            if img.format.upper() not in _READ_AS.get(coder, {coder}):
                raise ValueError(f"ImageMagick pinged it as {img.format}, not {coder}")
            return img.width, img.height, max(1, len(img.sequence))


def read(data, coder):
    """Decode `data` with ImageMagick coder `coder` into an RGBA Pillow image.

    Raises whatever Wand raises; the caller maps it to a ConvertixError.
    """
    import warnings

    image_mod, api, exceptions = wand()

    # Only fuzzed or damaged files make the coders warn; a warning is a failure here.
    with warnings.catch_warnings():
        warnings.simplefilter("error", exceptions.WandWarning)
        return _read(image_mod, api, data, coder)


def _read(image_mod, api, data, coder):
    from PIL import Image
    with image_mod.Image() as img:
        # Wand's format= sets the wand's format and names the blob "buffer.<coder>";
        # BlobToImage then reads it as "<CODER>:buffer.<coder>", an explicit coder.
        img.read(blob=data, format=coder.lower())
        if img.format.upper() not in _READ_AS.get(coder, {coder}):
            raise ValueError(f"ImageMagick read it as {img.format}, not {coder}")
        if len(img.sequence) > 1:
            img.iterator_first()
        w, h = img.width, img.height
        buf = ctypes.create_string_buffer(w * h * 4)
        ok = api.library.MagickExportImagePixels(
            img.wand, 0, 0, w, h, b"RGBA", _CHAR_PIXEL, buf)
        if not ok:
            img.raise_exception()
            raise ValueError("ImageMagick could not export the pixels")
        im = Image.frombuffer("RGBA", (w, h), buf.raw, "raw", "RGBA", 0, 1).copy()
        # Raster files with an all-zero alpha (32-bit BMP bitfields without a
        # real alpha mask) mean "no alpha", not "invisible".
        if (not img.alpha_channel or im.getchannel("A").getextrema() == (0, 0)):
            im = im.convert("RGB")
        return im
