"""Pure size arithmetic for resizing: no pixels here, so it is easy to test.

plan(w, h, width, height, fit, enlarge) -> Plan(resize, canvas, crop)
  resize: the size to scale the image to,
  canvas: for `contain`, the padded output size,
  crop:   for `cover`, the centred box cut from the resized image.

With only width or height given the aspect ratio is kept, whatever `fit`.
enlarge=false never scales up: `inside`/`outside` keep the original size,
`fill` stretches each side to at most its original length, `contain` still
pads to exactly width x height around the unscaled image, and `cover` crops
to at most the box without scaling up (so the output can be smaller than it).
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    resize: tuple
    canvas: tuple = None
    crop: tuple = None


def _scaled(w, h, s):
    return max(1, round(w * s)), max(1, round(h * s))


def _cap(s, enlarge):
    return s if enlarge else min(s, 1.0)


def _inside(w, h, W, H, enlarge):
    return Plan(_scaled(w, h, _cap(min(W / w, H / h), enlarge)))


def _outside(w, h, W, H, enlarge):
    return Plan(_scaled(w, h, _cap(max(W / w, H / h), enlarge)))


def _fill(w, h, W, H, enlarge):
    return Plan((W, H) if enlarge else (min(W, w), min(H, h)))


def _contain(w, h, W, H, enlarge):
    return Plan(_inside(w, h, W, H, enlarge).resize, canvas=(W, H))


def _cover(w, h, W, H, enlarge):
    rw, rh = _outside(w, h, W, H, enlarge).resize
    cw, ch = min(W, rw), min(H, rh)
    left, top = (rw - cw) // 2, (rh - ch) // 2
    return Plan((rw, rh), crop=(left, top, left + cw, top + ch))


FITS = {"inside": _inside, "outside": _outside, "fill": _fill,
        "contain": _contain, "cover": _cover}


def plan(w, h, width=None, height=None, fit="inside", enlarge=False):
    if not width and not height:
        return Plan((w, h))
    if not width or not height:
        s = (width / w) if width else (height / h)
        return Plan(_scaled(w, h, _cap(s, enlarge)))
    return FITS[fit](w, h, width, height, enlarge)


def output_size(p):
    if p.canvas:
        return p.canvas
    if p.crop:
        return p.crop[2] - p.crop[0], p.crop[3] - p.crop[1]
    return p.resize


def rotated_size(w, h, degrees):
    """The size of a w x h image rotated `degrees` clockwise with expand=True,
    computed as Pillow's Image.rotate does (same rounding), before any pixel
    is allocated, so that the result can be checked against the limits first."""
    angle = -degrees % 360.0  # Pillow rotates counter-clockwise
    if angle in (0, 180):
        return w, h
    if angle in (90, 270):
        return h, w
    a = -math.radians(angle)
    cos, sin = round(math.cos(a), 15), round(math.sin(a), 15)
    cx, cy = w / 2, h / 2
    # Pillow's reverse affine matrix about the centre; its translation is part
    # of the corners' coordinates, and so of the ceil/floor below.
    tx = cos * -cx + sin * -cy + cx
    ty = -sin * -cx + cos * -cy + cy
    xs = [cos * x + sin * y + tx for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    ys = [-sin * x + cos * y + ty for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    return (math.ceil(max(xs)) - math.floor(min(xs)),
            math.ceil(max(ys)) - math.floor(min(ys)))
