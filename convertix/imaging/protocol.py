"""Frames between the sandbox and its worker, over pipes.

A frame: 8 bytes = two big-endian uint32 (json_len, payload_len), the UTF-8
JSON header, then the payload bytes. Reads and writes loop on os.read/os.write
(which eventlet greens), so a partial transfer never splits a frame.
"""
import json
import os
import select
import struct
import time

PREFIX = struct.Struct(">II")
MAX_HEADER = 16 * 2**20
MAX_PAYLOAD = 2**32 - 1


class FrameEOF(EOFError):
    """The other side closed the pipe (possibly mid-frame)."""


class FrameTimeout(TimeoutError):
    """The deadline passed before a whole frame arrived."""


def _fd(f):
    return f if isinstance(f, int) else f.fileno()


def encode_frame(header, payload=b""):
    body = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return PREFIX.pack(len(body), len(payload)) + body + bytes(payload)


def write_frame(f, header, payload=b""):
    fd = _fd(f)
    view = memoryview(encode_frame(header, payload))
    while view:
        n = os.write(fd, view[:1 << 20])
        view = view[n:]


def _read_exactly(fd, n, deadline):
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FrameTimeout("deadline passed while reading a frame")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise FrameTimeout("deadline passed while reading a frame")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise FrameEOF(f"pipe closed with {left} of {n} bytes unread")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class FrameInvalid(ValueError):
    """A frame over the size the reader allows, or whose header is not a JSON object."""


def read_frame(f, deadline=None, max_payload=MAX_PAYLOAD, on_arrival=None):
    """(header dict, payload bytes); `deadline` is a time.monotonic() value or None;
    `on_arrival()` is called once the frame's first bytes are in.

    Both lengths are checked before anything is read or allocated: the other
    side is a sandboxed child, not to be trusted with our memory.
    """
    fd = _fd(f)
    json_len, payload_len = PREFIX.unpack(_read_exactly(fd, PREFIX.size, deadline))
    if on_arrival is not None:
        on_arrival()
    if json_len > MAX_HEADER:
        raise FrameInvalid(f"frame header of {json_len} bytes is too large")
    if payload_len > max_payload:
        raise FrameInvalid(f"frame payload of {payload_len} bytes is over the {max_payload}-byte bound")
    header = json.loads(_read_exactly(fd, json_len, deadline).decode("utf-8"))
    if not isinstance(header, dict):
        raise FrameInvalid(f"frame header is a JSON {type(header).__name__}, not an object")
    payload = _read_exactly(fd, payload_len, deadline) if payload_len else b""
    return header, payload
