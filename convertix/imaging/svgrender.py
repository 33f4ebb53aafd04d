"""Rendering sanitised SVG to pixels with CairoSVG.

CairoSVG rather than ImageMagick: IM's own SVG renderer (MSVG) works by
writing MVG and reading it back, which would mean opening the MVG coder in
the policy. CairoSVG runs in the sandbox process like every decoder, parses
with defusedxml (`unsafe=False`), and fetches nothing: its URL fetcher here
refuses every URL, so even a reference the sanitiser missed cannot reach a
file or the network.
"""
import io

from convertix.errors import CorruptImage, UnsupportedFormat


def _refuse(url, *_args, **_kwargs):
    raise UnsupportedFormat(f"SVG references an external resource ({url[:80]})")


def render_png(clean_svg, size):
    """PNG bytes of the SVG at `size` (w, h), the size svg.sanitise checked against
    Limits: given explicitly, so CairoSVG's own reading of width/height (which
    accepts more than ours) cannot choose a larger surface. A viewBox scales
    the drawing to that size."""
    # imported here: only SVG input needs cairo
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    try:
        # svg2png() takes no url_fetcher; the Tree it builds does.
        tree = Tree(bytestring=clean_svg, url_fetcher=_refuse, unsafe=False)
        output = io.BytesIO()
        width, height = size
        PNGSurface(tree, output, 96, output_width=width, output_height=height).finish()
        return output.getvalue()
    except UnsupportedFormat:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError,
            OverflowError, MemoryError, RecursionError) as exc:
        raise CorruptImage(f"cannot render this SVG: {type(exc).__name__}: {exc}") from exc


def render(clean_svg, size):
    from PIL import Image

    png = render_png(clean_svg, size)
    im = Image.open(io.BytesIO(png), formats=["PNG"])
    im.load()
    return im


_PROBE = (b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3">'
          b'<rect width="4" height="3" fill="red"/></svg>')


def available():
    """True when CairoSVG (and the cairo library under it) render here."""
    try:
        return render(_PROBE, (4, 3)).size == (4, 3)
    except Exception:
        return False
