"""How many elements an SVG draws once its internal references are expanded.

A reference draws its target again at every use: <use href>, a pattern tile
for each fill/stroke url(#p), a marker at every vertex, a filter, mask or
clip-path per element, and the href template chain of a pattern or gradient.
Nested references multiply (depth d, fan-out f: f**d), and a cycle never
ends; CairoSVG then works until the conversion times out. The count here is
an upper bound, cheap to compute, so the sanitiser can refuse such files at
once. It reads references where CairoSVG does: attributes, the style
attribute, and <style> sheets (matched with cssselect2, as CairoSVG does),
and follows inheritance: fill, stroke and markers set on a group apply to
every element under it. CSS escapes ('\\75 rl(#p)' is 'url(#p)' to tinycss2,
so to CairoSVG) are undone first, see css_unescape.

Depth is bounded too (MAX_DEPTH, IMAGE_TOO_LARGE): both the element nesting,
which svg.sanitise checks before this module walks the tree, and the nesting
once references are followed (a chain of 3000 <use>, each drawing the next).
Either, deep enough, ended as a RecursionError here or in CairoSVG, reported
as nothing better than a corrupt image.

Ids are unique or the document is refused (UNSUPPORTED_FORMAT): CairoSVG
resolves a <use> to the first element with the id, but its pattern, marker,
gradient, mask and filter tables to the last one. A counter that picks
either can be fooled by a decoy holding the same id (nested groups, each
with an empty decoy after it, were counted as ~1,100 elements and drew
millions). Duplicate ids are invalid SVG, and none of the corpus has any.
"""
import re

from convertix.errors import ImageTooLarge, UnsupportedFormat

# Deeper than this, elements nested in the document or drawn through chained
# references, is refused: real drawings nest a few dozen levels.
MAX_DEPTH = 256


def too_deep(how):
    raise ImageTooLarge(f"SVG {how} more than {MAX_DEPTH} levels deep",
                        details={"limit": MAX_DEPTH})


# A CSS escape (CSS Syntax 4.3.7): 1-6 hex digits and one optional whitespace,
# an escaped newline (a line continuation in a string), any other character,
# or a backslash at the very end.
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|[ \t\n\r\f])?|(\r\n|[\n\r\f])|(.)|$)", re.DOTALL)


def _unescaped(m):
    hex_digits, newline, char = m.groups()
    if hex_digits:
        cp = int(hex_digits, 16)
        return "\ufffd" if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF else chr(cp)
    if newline is not None:
        return ""
    return char if char is not None else "\ufffd"


def css_unescape(text):
    """CSS text with its escapes undone, so that regexes see what a CSS parser sees.

    Unescaped rather than refused: escapes are legitimate CSS (font names,
    selectors). Undoing them everywhere, strings and comments included, can
    only make more text look like url( or @import, never less: the checks
    built on this may refuse too much, never too little.
    """
    return _ESCAPE.sub(_unescaped, text) if "\\" in text else text


# url(#id) in a property value (after css_unescape).
_URL_REF = re.compile(r"url\(\s*['\"]?\s*#([^'\")\s]+)", re.IGNORECASE)
# Properties a child inherits from its parent (the others apply to one element).
INHERITED = frozenset({"fill", "stroke", "marker", "marker-start", "marker-mid", "marker-end"})
# Properties whose target is drawn once per vertex of the shape.
PER_VERTEX = frozenset({"marker", "marker-mid"})
_NUMBER = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")
# Elements whose href CairoSVG follows (instancing, templates, images, text paths).
# Others (<a href="#...">) are links, drawn as a group without their target.
HREF_FOLLOWED = frozenset({"use", "pattern", "linearGradient", "radialGradient", "filter",
                           "feImage", "image", "textPath", "tref"})


def _local(name):
    return name.rsplit("}", 1)[-1] if isinstance(name, str) else ""


def _vertices(el):
    """At most this many vertices: each needs a number, or is a closepath."""
    shape = (el.get("d") or "") + " " + (el.get("points") or "")
    return len(_NUMBER.findall(shape)) + shape.count("z") + shape.count("Z") + 1


def _declarations(el):
    """(property, value) from the attributes, including the style attribute."""
    for attr, value in el.attrib.items():
        name = _local(attr)
        if name == "style":
            for declaration in css_unescape(value).split(";"):
                prop, _, v = declaration.partition(":")
                yield prop.strip().lower(), v
        else:
            yield name, value


def _sheet_declarations(root):
    """element -> [(property, value)] that <style> sheets give it (only those with url(#))."""
    sheets = [el.text for el in root.iter()
              if _local(el.tag) == "style" and el.text and _URL_REF.search(css_unescape(el.text))]
    if not sheets:
        return {}
    # imported here: only documents with such sheets need them (CairoSVG's own dependencies)
    import cssselect2
    import tinycss2

    matcher = cssselect2.Matcher()
    for text in sheets:
        for rule in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
            if rule.type != "qualified-rule":
                continue
            found = [(d.lower_name, tinycss2.serialize(d.value))
                     for d in tinycss2.parse_declaration_list(rule.content)
                     if d.type == "declaration" and _URL_REF.search(tinycss2.serialize(d.value))]
            if not found:
                continue
            try:
                selectors = cssselect2.compile_selector_list(rule.prelude)
            except cssselect2.SelectorError:
                continue  # CairoSVG cannot apply it either
            for selector in selectors:
                matcher.add_selector(selector, found)
    given = {}
    for wrapper in cssselect2.ElementWrapper.from_xml_root(root).iter_subtree():
        for match in matcher.match(wrapper):
            given.setdefault(wrapper.etree_element, []).extend(match[-1])
    return given


def _href(el):
    if _local(el.tag) not in HREF_FOLLOWED:
        return None
    for attr, value in el.attrib.items():
        if _local(attr) == "href" and value.strip().startswith("#"):
            return value.strip()[1:]
    return None


def _references(root):
    """element -> [(target id, times drawn)], own and inherited, from one walk down the tree."""
    sheets = _sheet_declarations(root)
    refs = {}

    def walk(el, inherited):
        own = {}
        for prop, value in list(_declarations(el)) + sheets.get(el, []):
            targets = _URL_REF.findall(css_unescape(value))
            if targets:
                own[prop] = targets
            elif prop in INHERITED and value.strip():
                own[prop] = []  # e.g. fill="red": overrides an inherited url(#)
        effective = {**inherited, **own}
        refs[el] = [(target, _vertices(el) if prop in PER_VERTEX else 1)
                    for prop, targets in effective.items() for target in targets]
        passed_on = {p: t for p, t in effective.items() if p in INHERITED}
        for child in el:
            walk(child, passed_on)

    walk(root, {})
    return refs


def ids(root):
    """id -> element; UNSUPPORTED_FORMAT if an id is given twice (see the module's doc)."""
    by_id = {}
    for el in root.iter():
        key = el.get("id")
        if key:
            if key in by_id:
                raise UnsupportedFormat(f"SVG refused: id {key[:60]!r} is given to more than one element",
                                        details={"reason": "duplicate id"})
            by_id[key] = el
    return by_id


def expanded_count(root):
    """An upper bound on the elements drawn once references are expanded; inf for a cycle."""
    by_id = ids(root)
    refs = _references(root)
    # memo: element -> elements drawn; heights: element -> levels drawn from it
    # down (itself included), so that an element already counted, drawn again
    # deeper down, is still checked against MAX_DEPTH.
    memo, heights, active = {}, {}, set()

    def weight(el, depth):
        if el in memo:
            if depth + heights[el] - 1 > MAX_DEPTH:
                too_deep("draws elements through references")
            return memo[el]
        if el in active:
            return float("inf")
        if depth > MAX_DEPTH:
            too_deep("draws elements through references")
        active.add(el)
        targets = [(by_id[t], times) for t, times in refs[el] if t in by_id]
        drawn = sum(times * weight(target, depth + 1) for target, times in targets)
        total = 1 + drawn + sum(weight(child, depth + 1) for child in el)
        below = [target for target, _ in targets] + list(el)
        target = by_id.get(_href(el))
        if target is not None:
            # A <use> instance also inherits this element's fill/stroke/markers:
            # at worst each of the target's elements draws them again.
            total += weight(target, depth + 1) * (1 + drawn)
            below.append(target)
        active.discard(el)
        memo[el] = total
        heights[el] = 1 + max((heights.get(b, 0) for b in below), default=0)
        return total

    return weight(root, 1)
