"""Validation of a job's conversion options (SPEC, "Options").

A table of fields, each with a type, a default and a range; `validate()`
turns what a client sent into a complete, normalised options dict or raises
`InvalidOptions` whose `details["field"]` names the first offending field.
The gateway calls it to answer 422 up front; the converter calls it again,
because a message on the queue is input too.
"""
import re

from convertix.errors import InvalidOptions

FITS = ("inside", "contain", "cover", "fill", "outside")

# Names clients may use for a format, mapped to the one name used everywhere.
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff", "heif": "heic"}

# The width/height an option may ask for: the API's range (in the OpenAPI
# document), not a config value; config.yaml's LIMITS.max_width/max_height
# bound an input.
MAX_DIMENSION = 16384
_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def _int(lo, hi):
    def check(value):
        # bool is an int in Python; a client sending `true` for a width is wrong.
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        if not lo <= value <= hi:
            return f"must be between {lo} and {hi}"
    return check


def _number(lo, hi):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if not lo <= value <= hi:
            return f"must be between {lo} and {hi}"
    return check


def _bool(value):
    if not isinstance(value, bool):
        return "must be true or false"


def _choice(*choices):
    def check(value):
        if value not in choices:
            return "must be one of " + ", ".join(map(str, choices))
    return check


def _colour(value):
    if not isinstance(value, str) or not _HEX_COLOUR.match(value):
        return "must be a colour like #ffffff"


def _rotate(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number of degrees"
    if not -360 <= value <= 360:
        return "must be between -360 and 360"


CROP_FIELDS = ("x", "y", "width", "height")


def _crop(value):
    if not isinstance(value, dict) or set(value) != set(CROP_FIELDS):
        return "must be an object with exactly x, y, width and height"
    for key in CROP_FIELDS:
        lo = 0 if key in ("x", "y") else 1
        problem = _int(lo, MAX_DIMENSION * 4)(value[key])
        if problem:
            return f"{key} {problem}"


# field -> (default, check). `format` has no default: it is required.
FIELDS = {
    "format": (None, None),  # checked against the installation's output formats
    "quality": (80, _int(1, 100)),
    "width": (None, _int(1, MAX_DIMENSION)),
    "height": (None, _int(1, MAX_DIMENSION)),
    "fit": ("inside", _choice(*FITS)),
    "enlarge": (False, _bool),
    "crop": (None, _crop),
    "rotate": (0, _rotate),
    "flip": (False, _bool),
    "flop": (False, _bool),
    "grayscale": (False, _bool),
    "blur": (0, _number(0, 100)),
    "sharpen": (0, _number(0, 100)),
    "auto_orient": (True, _bool),
    "strip_metadata": (True, _bool),
    "background": ("#ffffff", _colour),
    "progressive": (False, _bool),
    "lossless": (False, _bool),
    "animated": (True, _bool),
}


def normalise_format(name):
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    return FORMAT_ALIASES.get(name, name)


def validate(options, output_formats):
    """Return the complete options dict, or raise InvalidOptions naming the field.

    `output_formats` is the collection of format names this installation writes.
    """
    if not isinstance(options, dict):
        raise InvalidOptions("options must be a JSON object", details={"field": "options"})
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise InvalidOptions(f"unknown option '{unknown[0]}'", details={"field": unknown[0]})
    if "format" not in options:
        raise InvalidOptions("format is required", details={"field": "format"})
    fmt = normalise_format(options["format"])
    if fmt not in output_formats:
        raise InvalidOptions(
            "format must be one of " + ", ".join(sorted(output_formats)),
            details={"field": "format"})

    result = {"format": fmt}
    for field, (default, check) in FIELDS.items():
        if field == "format":
            continue
        if field not in options or options[field] is None:
            result[field] = default
            continue
        problem = check(options[field])
        if problem:
            raise InvalidOptions(f"{field} {problem}", details={"field": field})
        result[field] = options[field]
    return result
