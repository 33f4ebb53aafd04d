"""The Sandbox: bad corpus files fail cleanly within the deadline, the same
worker then still converts; timeouts, crashes and eventlet cooperation."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from convertix.errors import TASK_ERROR_CODES, ConversionTimeout, ConvertixError
from convertix.imaging import Limits, Sandbox, SandboxCrashed, protocol
from tests.corpus_cases import BAD, may_succeed

from .conftest import corpus_bytes, encoded, photo

DEADLINE_S = 20
VALID_PNG = encoded(photo((64, 48)))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(memory_mb=1024)
    box.start()
    yield box
    box.close()


@pytest.mark.parametrize("row", BAD, ids=[r["path"] for r in BAD])
def test_bad_file_fails_cleanly(sandbox, row):
    started = time.monotonic()
    try:
        out = sandbox.convert(corpus_bytes(row["path"]), {"format": "png"}, Limits(), timeout_s=DEADLINE_S)
    except ConvertixError as exc:
        assert exc.code in TASK_ERROR_CODES
    except SandboxCrashed as exc:  # the worker died: acceptable only as a reported crash
        pytest.fail(f"worker crashed on {row['path']}: {exc}")
    else:
        # LENIENT rows (the corpus README lists them) decode anyway: success is fine for them.
        assert may_succeed(row), f"{row['path']} converted: {out.to_dict()}"
    assert time.monotonic() - started < DEADLINE_S + 5
    good = sandbox.convert(VALID_PNG, {"format": "webp", "width": 32}, Limits(), timeout_s=DEADLINE_S)
    assert (good.width, good.height) == (32, 24)


def test_sandbox_result(sandbox):
    out = sandbox.convert(VALID_PNG, {"format": "jpeg"}, Limits(), timeout_s=DEADLINE_S)
    assert out.data[:2] == b"\xff\xd8" and out.input.format == "png" and out.mime == "image/jpeg"


def test_invalid_options_come_back(sandbox):
    with pytest.raises(ConvertixError) as exc:
        sandbox.convert(VALID_PNG, {"format": "png", "quality": 0}, Limits(), timeout_s=DEADLINE_S)
    assert exc.value.code == "INVALID_OPTIONS"


def test_timeout_kills_and_restarts():
    big = encoded(photo((4000, 3000)), "PNG", compress_level=1)
    with Sandbox() as box:
        with pytest.raises(ConversionTimeout):
            box.convert(big, {"format": "avif", "width": 4000, "blur": 50}, Limits(), timeout_s=0.5)
        out = box.convert(VALID_PNG, {"format": "png"}, Limits(), timeout_s=DEADLINE_S)
        assert out.width == 64


def test_crash_is_reported_and_restarted():
    big = encoded(photo((4000, 3000)), "PNG", compress_level=1)
    with Sandbox() as box:
        box.start()
        pid = box._proc.pid
        # Kill the worker mid-conversion, as a decoder crash or the OOM killer would.
        killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(SandboxCrashed) as exc:
            box.convert(big, {"format": "avif", "width": 4000, "blur": 50}, Limits(), timeout_s=DEADLINE_S)
        killer.join()
        assert exc.value.returncode == -signal.SIGKILL
        out = box.convert(VALID_PNG, {"format": "png"}, Limits(), timeout_s=DEADLINE_S)
        assert out.width == 64 and box._proc.pid != pid


def test_frames_round_trip():
    r, w = os.pipe()
    protocol.write_frame(w, {"a": 1}, b"xyz")
    assert protocol.read_frame(r, time.monotonic() + 5) == ({"a": 1}, b"xyz")
    os.close(w)
    with pytest.raises(protocol.FrameEOF):
        protocol.read_frame(r)
    os.close(r)


EVENTLET_SCRIPT = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch()
    import io, json, time
    from PIL import Image
    from convertix.imaging import Sandbox, Limits

    buf = io.BytesIO()
    Image.linear_gradient("L").resize((3000, 2000)).convert("RGB").save(buf, "PNG")
    data = buf.getvalue()
    ticks, results = [], []

    def ticker():
        while len(results) < 2:
            ticks.append(time.monotonic())
            eventlet.sleep(0.02)

    def work(n):
        with Sandbox() as box:
            box.start()
            out = box.convert(data, {"format": "avif", "width": 2000}, Limits(), timeout_s=60)
            results.append((n, out.width, out.height))

    pool = eventlet.GreenPool()
    pool.spawn(ticker)
    pool.spawn(work, 1)
    pool.spawn(work, 2)
    pool.waitall()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(json.dumps({"results": sorted(results), "ticks": len(ticks), "max_gap": max(gaps)}))
""")


def test_two_sandboxes_under_eventlet():
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", EVENTLET_SCRIPT], capture_output=True,
                          timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    import json
    report = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert report["results"] == [[1, 2000, 1333], [2, 2000, 1333]]
    # The hub kept running while both conversions were in flight.
    assert report["ticks"] > 10 and report["max_gap"] < 1.0, report
