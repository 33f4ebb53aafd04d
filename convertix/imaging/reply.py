"""Checking the sandbox child's reply before the parent believes it.

The child runs decoders on hostile input, so a bug or a subverted decoder may
answer anything: a payload length meant to exhaust our memory, sizes no
conversion under these Limits could produce, fields of the wrong type. A
reply must fit the request and the Limits; one that does not means the child
is broken (sandbox.py kills it and raises SandboxCrashed).
"""
import re

from convertix.errors import TASK_ERROR_CODES, error

from .convert import Converted, InputInfo
from .formats import mime_type

# The most bytes one output pixel takes in what we write (uncompressed RGBA in
# BMP/TIFF/ICO, and some slack), plus headers and metadata per frame.
BYTES_PER_PIXEL = 5
FRAME_OVERHEAD = 1 << 20


# Library text in an error message is for the user's eyes: no object
# addresses ('<PIL.Image object at 0x7f3a...>'), no paths of this machine's
# files ('/usr/lib/x86_64-linux-gnu/libtiff.so.6'), no page of text.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
_PATH = re.compile(r"(?<![\w:/])/(?:[\w.+@-]+/)+[\w.+@-]*")
MAX_MESSAGE = 300


def scrub(text):
    """`text` without addresses and file paths, at most MAX_MESSAGE characters."""
    text = _PATH.sub("<path>", _ADDRESS.sub("0x…", text))
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


class MalformedReply(ValueError):
    """The child's reply does not fit the request or the Limits."""


def max_payload(limits, memory_mb):
    """The most reply bytes a conversion under `limits` can produce."""
    by_limits = min(limits.max_frames * (limits.max_output_pixels * BYTES_PER_PIXEL + FRAME_OVERHEAD),
                    limits.max_output_bytes)  # the child refuses more (worker.py)
    # The child holds its output in memory: never more than its address space.
    return min(by_limits, memory_mb * 2**20) if memory_mb else by_limits


def _int_in(low, high):
    return lambda v: type(v) is int and low <= v <= high


def _success_checks(data, options, limits):
    """Field of a successful reply -> a check on its value."""
    fmt = options.get("format")
    side = _int_in(1, limits.max_output_pixels)
    input_checks = {
        "format": lambda v: isinstance(v, str),
        "width": _int_in(0, limits.max_width),
        "height": _int_in(0, limits.max_height),
        "frames": _int_in(0, limits.max_frames),
        "bytes": lambda v: v == len(data),
    }
    return {
        "ok": lambda v: v is True,
        "format": lambda v: v == fmt,
        "mime": lambda v: v == mime_type(fmt),
        "width": side,
        "height": side,
        "frames": _int_in(1, limits.max_frames),
        "input": lambda v: isinstance(v, dict) and _fits(v, input_checks),
    }


ERROR_CHECKS = {
    "ok": lambda v: v is False,
    "code": lambda v: v in TASK_ERROR_CODES,
    "message": lambda v: isinstance(v, str),
    # error(code, message, **details): a detail named like a parameter would not fit.
    "details": lambda v: isinstance(v, dict) and not {"code", "message"} & set(v),
}


def _fits(fields, checks):
    return set(fields) == set(checks) and all(check(fields[k]) for k, check in checks.items())


def parse(header, payload, data, options, limits):
    """The Converted the child reports, or raise its ConvertixError; MalformedReply if neither fits."""
    if header.get("ok") is False:
        if not _fits(header, ERROR_CHECKS) or payload:
            raise MalformedReply(f"error reply of unexpected shape: {sorted(header)}")
        details = {k: scrub(v) if isinstance(v, str) else v for k, v in header["details"].items()}
        raise error(header["code"], scrub(header["message"]), **details)
    if not _fits(header, _success_checks(data, options, limits)) or not payload:
        raise MalformedReply(f"reply of unexpected shape: {str(header)[:200]}")
    if header["width"] * header["height"] > limits.max_output_pixels:
        raise MalformedReply(f"reply says {header['width']}x{header['height']}, over the output limit")
    return Converted(payload, header["format"], header["mime"], header["width"], header["height"],
                     header["frames"], InputInfo(**header["input"]))
