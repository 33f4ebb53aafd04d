"""The abuse layer: attacks against the system as processes (the e2e layer's
Stack: services, converter, gunicorn with 2 workers, on a fresh vhost and
database), each answered with a clear code while a normal user's request,
made at the same time, still completes within a bound."""
import io
import threading
import time
import uuid

import pytest
from PIL import Image

from tests.e2e.conftest import Api, Stack

# A normal user's small job must finish within this many seconds while an
# attack runs (idle it takes ~1 s; the attacks hold at most one of 2 sandboxes).
NORMAL_BOUND_S = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("abuse"), env={
        "CONVERTER_MEMORY_MB": "2048",   # as deployed: the output cap, not memory, stops the BMP
        "CONVERSION_TIMEOUT_S": "60",
        "AUTH_RATE_LIMIT": "1000 per minute",  # this module registers many users
        "LOGIN_RATE_LIMIT_PER_USER": "10 per minute",  # config.yaml's: test_attacks checks it
        "GATEWAY_WORKERS": "2",
    }).start()
    yield running
    running.stop()


def user(stack):
    return Api(stack, "u" + uuid.uuid4().hex[:12])


def small_png():
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


class NormalUser:
    """Submits one small job in the background and times it to its end."""

    def __init__(self, stack):
        self.api = user(stack)
        self.seconds = self.doc = self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def _run(self):
        started = time.monotonic()
        try:
            answer = self.api.upload([("normal.png", small_png())], {"format": "webp", "width": 32})
            assert answer.status_code == 202, answer.text
            self.doc = self.api.wait_final(answer.json()["id"], timeout=NORMAL_BOUND_S * 3)
        except BaseException as exc:  # reported by check()
            self.error = exc
        self.seconds = time.monotonic() - started

    def __exit__(self, *exc):
        self.thread.join(NORMAL_BOUND_S * 4)

    def check(self, bound_s=NORMAL_BOUND_S):
        assert self.error is None, repr(self.error)
        assert self.doc["status"] == "succeeded", self.doc
        assert self.seconds < bound_s, f"the normal job took {self.seconds:.1f} s"
