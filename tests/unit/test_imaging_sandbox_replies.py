"""The parent does not trust its child: a reply that does not fit the request
or the Limits kills the child (SandboxCrashed) at once, before the parent
allocates or believes anything. A fake child sends each reply."""
import stat
import struct
import sys
import textwrap
import time

import pytest

from convertix.errors import ConvertixError
from convertix.imaging import Limits, Sandbox, SandboxCrashed
from convertix.imaging.protocol import encode_frame

from .conftest import encoded, photo

SOURCE = encoded(photo((64, 48)))
GOOD = {"ok": True, "format": "png", "mime": "image/png", "width": 64, "height": 48, "frames": 1,
        "input": {"format": "png", "width": 64, "height": 48, "frames": 1, "bytes": len(SOURCE)}}
ERROR = {"ok": False, "code": "CORRUPT_IMAGE", "message": "bad", "details": {"format": "png"}}

# The child: ready, read one request, send REPLY's bytes, then stay alive.
FAKE_CHILD = textwrap.dedent("""
    import sys, time
    from convertix.imaging import protocol
    protocol.write_frame(1, {"ready": True})
    protocol.read_frame(0)
    protocol.os.write(1, bytes.fromhex(sys.argv[1]))
    time.sleep(60)
""")


def _sandbox(tmp_path, raw_reply):
    """A Sandbox whose 'python' runs FAKE_CHILD (whatever arguments it is given)."""
    script = tmp_path / "child.py"
    script.write_text(FAKE_CHILD)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" {raw_reply.hex()}\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return Sandbox(memory_mb=64, python=str(python))


def _with(**changes):
    return encode_frame({**GOOD, **changes}, b"\x89PNG fake")


BAD_REPLIES = {
    # 4 GiB announced, nothing sent: must not be waited for, nor allocated.
    "huge-payload": struct.pack(">II", 2, 2**32 - 1) + b"{}",
    "payload-over-memory": struct.pack(">II", 2, 65 * 2**20) + b"{}",
    "header-not-object": struct.pack(">II", 6, 0) + b"[1, 2]",
    "negative-width": _with(width=-1),
    "width-not-int": _with(width="64"),
    "over-output-limit": _with(width=20000, height=20000),
    "too-many-frames": _with(frames=10**9),
    "other-format": _with(format="bmp", mime="image/bmp"),
    "input-missing": encode_frame({k: v for k, v in GOOD.items() if k != "input"}, b"x"),
    "input-wrong-bytes": _with(input={**GOOD["input"], "bytes": 1}),
    "input-extra-field": _with(input={**GOOD["input"], "evil": 1}),
    "empty-payload": encode_frame(GOOD, b""),
    "error-unknown-code": encode_frame({**ERROR, "code": "FORBIDDEN"}),
    "error-details-not-dict": encode_frame({**ERROR, "details": "x"}),
    "error-details-shadow": encode_frame({**ERROR, "details": {"code": "x"}}),
}


@pytest.mark.parametrize("name", sorted(BAD_REPLIES))
def test_invalid_reply_kills_the_child(tmp_path, name):
    box = _sandbox(tmp_path, BAD_REPLIES[name])
    started = time.monotonic()
    with pytest.raises(SandboxCrashed) as exc:
        box.convert(SOURCE, {"format": "png"}, Limits(max_output_pixels=10**8), timeout_s=10)
    assert time.monotonic() - started < 5  # at once, not at the deadline
    assert "invalid reply" in str(exc.value)
    assert box._proc is None  # killed: the next conversion starts a fresh child


def test_valid_reply_is_believed(tmp_path):
    with _sandbox(tmp_path, encode_frame(GOOD, b"\x89PNG fake")) as box:
        out = box.convert(SOURCE, {"format": "png"}, Limits(), timeout_s=10)
        assert (out.data, out.width, out.height, out.input.bytes) == (b"\x89PNG fake", 64, 48, len(SOURCE))
        box.discard()


def test_valid_error_reply_is_raised(tmp_path):
    with _sandbox(tmp_path, encode_frame(ERROR)) as box:
        with pytest.raises(ConvertixError) as exc:
            box.convert(SOURCE, {"format": "png"}, Limits(), timeout_s=10)
        assert (exc.value.code, exc.value.details) == ("CORRUPT_IMAGE", {"format": "png"})
        box.discard()
