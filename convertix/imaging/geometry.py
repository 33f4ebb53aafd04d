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
