"""The sandbox child reports its stages before its reply (progress frames)."""
import io
import os

import pytest
from PIL import Image

from convertix.imaging import protocol, reply
from convertix.imaging.limits import Limits
from convertix.imaging.sandbox import Sandbox


def png():
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_conversion_reports_transform_then_encode():
    heard = []
    with Sandbox(memory_mb=1024) as box:
        out = box.convert(png(), {"format": "webp", "width": 20}, Limits(), timeout_s=30,
                          on_stage=heard.append)
        assert out.format == "webp" and out.width == 20
        # without a listener the frames are read past all the same
        assert box.convert(png(), {"format": "png"}, Limits(), timeout_s=30).format == "png"
    assert heard == ["transform", "encode"]


def test_stage_frames_out_of_order_are_a_malformed_reply():
    box = Sandbox()
    read, write = os.pipe()
    box._proc = type("P", (), {"stdout": os.fdopen(read, "rb")})()
    for header in ({"stage": "encode"}, {"stage": "transform"}):
        protocol.write_frame(write, header)
    os.close(write)
    with pytest.raises(reply.MalformedReply):
        box._read_past_stages(None, Limits(), None)
