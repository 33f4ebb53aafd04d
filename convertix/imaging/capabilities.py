"""What this installation really reads and writes, found by trying.

Output formats: a small RGB and a small RGBA image are encoded and read back
(PDF, which Pillow cannot read, is checked for its header instead).
Input formats: every Pillow allowlist whose plugins are registered here, plus
the ImageMagick-only ones when Wand loads under our policy, and SVG when
CairoSVG renders. EPS/PS/PDF/XPS are
never inputs (no Ghostscript; refused by design).
"""
import functools
import io

from PIL import Image

from convertix.options import FIELDS

from . import encode, magick, probecache, svgrender, vipspng
from .formats import MAGICK_CODERS, PILLOW_FORMATS, REFUSED
from .plugins import register


def _probe_options(fmt):
    return {"format": fmt, "quality": 80, "progressive": False, "lossless": False,
            "strip_metadata": True, "background": "#ffffff"}


def _round_trips(fmt):
    for mode in ("RGB", "RGBA"):
        im = Image.new(mode, (16, 12), (200, 100, 50, 128)[:len(mode)])
        try:
            data, _, size = encode.encode([im], [100], 0, _probe_options(fmt), {})
            if fmt == "pdf":
                ok = data.startswith(b"%PDF")
            else:
                with Image.open(io.BytesIO(data)) as back:
                    back.load()
                    ok = back.size == size
        except Exception:
            return False
        if not ok:
            return False
    return True


def _magick_ok():
    try:
        magick.wand()
        return True
    except Exception:
        return False


def load_codecs():
    """Load every codec the engine may use: the plugins, ImageMagick, cairo
    (the sandbox child does this before it confines itself)."""
    register()
    Image.init()
    _magick_ok()
    svgrender.available()
    vipspng.available()  # also starts libvips' thread


@functools.lru_cache(maxsize=1)
def capabilities():
    """What this installation reads and writes. Probed once per installation
    and remembered (probecache.py): a converter replica and its sandbox
    children read the answer instead of probing again."""
    return probecache.remembered("capabilities", _probe)


def _probe():
    register()
    Image.init()
    outputs = sorted(f for f in encode.ENCODERS if _round_trips(f))
    inputs = {f for f, plugins in PILLOW_FORMATS.items() if all(p in Image.OPEN for p in plugins)}
    if _magick_ok():
        inputs |= set(MAGICK_CODERS)
    if svgrender.available():
        inputs.add("svg")
    inputs -= REFUSED
    operations = [name for name in FIELDS if name != "format"]
    return {"input": sorted(inputs), "output": outputs, "operations": operations}
