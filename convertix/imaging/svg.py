"""SVG sanitising and size bounding, before any renderer sees the bytes.

Refused (UNSUPPORTED_FORMAT): entity declarations and internal DTD subsets,
XInclude, <script>, <foreignObject>, xml-stylesheet processing instructions,
CSS @import, and any reference (href, xlink:href, src, url(...)) that does not
point inside the document ('#id'). A bare <!DOCTYPE svg PUBLIC ...> line with
no internal subset is common in valid files and is accepted.

What is rendered is the checked tree serialised again, never the input bytes:
editing the bytes after checking the tree (a regex stripping the DOCTYPE)
let a DOCTYPE-like string inside CDATA turn checked text into unchecked
markup. The serialised tree has no DOCTYPE (so no renderer can fetch the DTD
it names), no comments and no processing instructions.

Bounded (IMAGE_TOO_LARGE): the gunzipped size of SVGZ, the element count and
nesting depth (both also once references are expanded, and without cycles,
see svgrefs.py, which also refuses duplicate ids), the render work (elements
drawn x render pixels, MAX_RENDER_WORK), and
the render size from width/height (or the viewBox) against Limits. That size
is handed to the renderer explicitly: its own parse of width/height is more
lenient than ours ('6_0000', '+60000' and the like), and must not decide how
large a surface it allocates. A width/height/viewBox that is not a finite
CSS length is CORRUPT_IMAGE.
"""
import math
import re
import zlib
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException, DTDForbidden

from convertix.errors import CorruptImage, ImageTooLarge, UnsupportedFormat

from .svgrefs import MAX_DEPTH, css_unescape, expanded_count, too_deep

# A document with more elements than this is a rendering bomb, not an image.
MAX_ELEMENTS = 50_000
# Elements drawn (references expanded) x render pixels. CairoSVG fills
# 0.3-0.6 ns per element-pixel when every element covers the canvas (the
# worst case, measured on this project's 2-core machine), so this bounds a
# render to ~15-30 s, under the conversion timeout: a file can no longer hold
# a sandbox for the whole timeout. 1,000 elements still render at 7000x7000.
MAX_RENDER_WORK = 50_000_000_000

# CSS/SVG length units -> pixels, at the 96 dpi CairoSVG renders at (CSS's px).
UNITS_TO_PX = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "in": 96.0,
               "cm": 96 / 2.54, "mm": 9.6 / 2.54, "em": 16.0, "ex": 8.0}

# What makes a document unsafe, as tables (each checked in this order):
# elements by their local name, elements by their namespace (a prefix of the
# tag as ElementTree spells it, '{namespace}name'), attributes by their local
# name whose value must point inside the document ('#id'), and elements whose
# text is CSS (where @import and url() are checked, as in every attribute value).
FORBIDDEN_ELEMENTS = frozenset({"script", "foreignObject", "include", "handler", "listener"})
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
FORBIDDEN_NAMESPACES = ("{" + XINCLUDE_NS,)
REFERENCE_ATTRIBUTES = frozenset({"href", "src"})
CSS_TEXT_ELEMENTS = {"style": "<style>"}

_STYLESHEET_PI = re.compile(rb"<\?xml-stylesheet\b", re.IGNORECASE)
_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_IMPORT = re.compile(r"@import\b", re.IGNORECASE)
# A CSS number: what SVG allows, and no more. Python's float() (which CairoSVG
# uses) also takes '6_0000', 'inf' and 'nan'; those are refused here instead.
_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_LENGTH = re.compile(rf"^\s*({_NUMBER})\s*([a-zA-Z%]*)\s*$")
_NUMBER_ONLY = re.compile(rf"^{_NUMBER}$")


def _refuse(why):
    raise UnsupportedFormat(f"SVG refused: {why}", details={"reason": why})


class _Parser(SafeET.DefusedXMLParser):
    """defusedxml's parser (entities and external references forbidden), which
    also refuses a DOCTYPE with an internal subset, as expat itself reports it.

    Not a regex over the bytes: a '<!DOCTYPE x>' in an earlier comment, or
    UTF-16, hid the real internal subset from one. Without the subset (so no
    <!ATTLIST> default attributes either) a DOCTYPE only names a DTD, which
    expat does not fetch and the serialised tree leaves out.
    """

    def __init__(self, target):
        super().__init__(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.parser.StartDoctypeDeclHandler = self._start_doctype

    def _start_doctype(self, name, sysid, pubid, has_internal_subset):
        if has_internal_subset:
            raise DTDForbidden(name, sysid, pubid)


def gunzip_bounded(data, limit):
    """The content of a gzip stream, refusing more than `limit` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CorruptImage(f"SVGZ is not valid gzip: {exc}") from exc
    if len(out) > limit or d.unconsumed_tail:
        raise ImageTooLarge(f"SVGZ expands to more than {limit} bytes", details={"limit": limit})
    return out


def _local(name):
    return name.rsplit("}", 1)[-1] if isinstance(name, str) else ""


def _check_css(text, where):
    # CSS escapes undone first (svgrefs.css_unescape): tinycss2, and so
    # CairoSVG, reads '\75 rl(' and 'u\rl(' as 'url(', '@\69mport' as '@import'.
    text = css_unescape(text)
    if _IMPORT.search(text):
        _refuse(f"CSS @import in {where}")
    for target in _URL.findall(text):
        if not target.startswith("#"):
            _refuse(f"external url({target[:60]}) in {where}")


def _forbidden(el):
    """Whether the element is refused for its name or its namespace."""
    tag = el.tag if isinstance(el.tag, str) else ""
    return _local(el.tag) in FORBIDDEN_ELEMENTS or tag.startswith(FORBIDDEN_NAMESPACES)


def _check_attribute(name, value):
    if name in REFERENCE_ATTRIBUTES and not value.strip().startswith("#"):
        _refuse(f"reference {name}='{value[:60]}' outside the document")
    _check_css(value, f"attribute {name}")


def _check_element(el):
    """The element's name, then each attribute in order, then its CSS text."""
    if _forbidden(el):
        _refuse(f"<{_local(el.tag)}> element")
    for attr, value in el.attrib.items():
        _check_attribute(_local(attr), value)
    where = CSS_TEXT_ELEMENTS.get(_local(el.tag))
    if where and el.text:
        _check_css(el.text, where)


def _walk(root):
    """(element, its depth, how many elements so far) in document order, with
    a stack of its own: nothing recursive sees the tree before its depth is checked."""
    stack = [(root, 1)]
    count = 0
    while stack:
        el, depth = stack.pop()
        count += 1
        yield el, depth, count
        stack.extend((child, depth + 1) for child in reversed(el))


def _check_tree(root):
    for el, depth, count in _walk(root):
        if count > MAX_ELEMENTS:
            raise ImageTooLarge(f"SVG has more than {MAX_ELEMENTS} elements")
        if depth > MAX_DEPTH:
            too_deep("nests elements")
        _check_element(el)


def _unusable(name, value):
    raise CorruptImage(f"SVG {name}={value[:40]!r} is not a usable size",
                       details={"field": name})


def _length_px(value, name):
    """Pixels for a width/height; None when absent or a percentage (the viewBox decides)."""
    if value is None or not value.strip():
        return None
    m = _LENGTH.match(value)
    unit = m.group(2).lower() if m else None
    if unit == "%":
        return None
    if unit not in UNITS_TO_PX:
        _unusable(name, value)
    px = float(m.group(1)) * UNITS_TO_PX[unit]
    if not math.isfinite(px):
        _unusable(name, value)
    return px


def _viewbox(value):
    """(width, height) of a viewBox, or None when there is none."""
    if value is None:
        return None
    parts = value.replace(",", " ").split()
    if len(parts) != 4 or not all(_NUMBER_ONLY.match(p) for p in parts):
        _unusable("viewBox", value)
    bw, bh = float(parts[2]), float(parts[3])
    if not (math.isfinite(bw) and math.isfinite(bh)):
        _unusable("viewBox", value)
    return bw, bh


def render_size(root):
    """(width, height) in whole pixels the renderer is told to produce, or None if unknown.

    The renderer gets this size explicitly (svgrender.py), so its own reading
    of width/height never decides how much memory a render takes.
    """
    w, h = _length_px(root.get("width"), "width"), _length_px(root.get("height"), "height")
    box = _viewbox(root.get("viewBox"))
    if box:
        bw, bh = box
        if w is None:
            w = bw if h is None or not bh else h * bw / bh
        if h is None:
            h = bh if not bw else w * bh / bw
    if w is None or h is None:
        return None
    if not (math.isfinite(w) and math.isfinite(h)):  # e.g. 1e300 * 1e300 / 1e-300
        _unusable("width", str(w))
    return round(w), round(h)


def _refused_markup(exc):
    _refuse("DTD internal subset" if isinstance(exc, DTDForbidden) else type(exc).__name__)


def _not_well_formed(exc):
    raise CorruptImage(f"SVG is not well-formed XML: {exc}") from exc


# The parser's exceptions, most specific first -> what the caller is told.
_PARSE_ERRORS = ((DefusedXmlException, _refused_markup), (SafeET.ParseError, _not_well_formed))


def _parse(data):
    """The document's root element; refused markup (DTD subset, entities,
    external references) is UNSUPPORTED_FORMAT, broken XML CORRUPT_IMAGE."""
    if _STYLESHEET_PI.search(data):
        _refuse("xml-stylesheet processing instruction")
    try:
        parser = _Parser(target=ET.TreeBuilder())
        parser.feed(data)
        root = parser.close()
    except (DefusedXmlException, SafeET.ParseError) as exc:
        next(handle for kind, handle in _PARSE_ERRORS if isinstance(exc, kind))(exc)
    if _local(root.tag) != "svg":
        raise CorruptImage("SVG document has no <svg> root element")
    return root


def _drawn(root):
    """Elements drawn once references are expanded, within MAX_ELEMENTS."""
    drawn = expanded_count(root)
    if drawn > MAX_ELEMENTS:
        raise ImageTooLarge(f"SVG expands to more than {MAX_ELEMENTS} elements through its references "
                            "(use, pattern, marker, filter, mask...) or has a reference cycle",
                            details={"limit": MAX_ELEMENTS})
    return drawn


def _over_limits(w, h, drawn, limits):
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_pixels:
        return ImageTooLarge(f"SVG renders at {w}x{h}, over the limits",
                             details={"width": w, "height": h})
    return None


def _empty(w, h, drawn, limits):
    return CorruptImage("SVG has an empty render size") if w < 1 or h < 1 else None


def _too_much_work(w, h, drawn, limits):
    if drawn * w * h <= MAX_RENDER_WORK:
        return None
    return ImageTooLarge(f"SVG draws up to {drawn} elements at {w}x{h}: more work than "
                         f"{MAX_RENDER_WORK:.0e} element-pixels",
                         details={"elements": drawn, "width": w, "height": h,
                                  "limit": MAX_RENDER_WORK})


# Checks of the render size, in order: each gives the error to raise, or None.
SIZE_CHECKS = (_over_limits, _empty, _too_much_work)


def _checked_size(root, drawn, limits):
    size = render_size(root)
    if size is None:
        raise CorruptImage("SVG has no usable width/height or viewBox")
    for check in SIZE_CHECKS:
        error = check(*size, drawn, limits)
        if error:
            raise error
    return size


def sanitise(data, limits):
    """Return (clean SVG bytes, (w, h) to render it at); raise a ConvertixError if unsafe."""
    if data[:2] == b"\x1f\x8b":
        data = gunzip_bounded(data, limits.max_input_bytes)
    root = _parse(data)
    _check_tree(root)
    size = _checked_size(root, _drawn(root), limits)
    # Exactly the tree that was checked, re-serialised (namespaces as ns0:, ns1:...).
    return ET.tostring(root, encoding="utf-8", xml_declaration=False), size
