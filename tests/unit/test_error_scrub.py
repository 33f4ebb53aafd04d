"""Task error messages carry no library internals: the
parent scrubs what its sandbox child says before anyone sees it."""
import pytest

from convertix.errors import ConvertixError
from convertix.imaging import Limits
from convertix.imaging.reply import MAX_MESSAGE, parse

LEAKY = ("cannot convert this tiff image: OSError: decoder error -2 in "
         "<PIL.TiffImagePlugin.TiffImageFile image mode=RGB size=8x8 at 0x7F3A2B4C5D60> "
         "(/usr/lib/x86_64-linux-gnu/libtiff.so.6, /work/main/convertix/imaging/decode.py)")


def _raised(message, details=None):
    header = {"ok": False, "code": "CORRUPT_IMAGE", "message": message, "details": details or {}}
    with pytest.raises(ConvertixError) as exc:
        parse(header, b"", b"input", {"format": "png"}, Limits())
    return exc.value


def test_addresses_and_paths_are_scrubbed():
    exc = _raised(LEAKY, {"format": "tiff", "reason": "at 0xdeadbeef in /etc/hosts"})
    assert exc.code == "CORRUPT_IMAGE"
    for leak in ("0x7F3A2B4C5D60", "/usr/lib", "libtiff.so.6", "/work/main", "0xdeadbeef", "/etc/hosts"):
        assert leak not in exc.message and leak not in str(exc.details), leak
    assert exc.message.startswith("cannot convert this tiff image: OSError: decoder error -2")
    assert exc.details["format"] == "tiff"


def test_long_messages_are_cut():
    assert len(_raised("x" * 10_000).message) == MAX_MESSAGE
