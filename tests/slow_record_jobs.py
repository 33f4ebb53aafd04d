"""The real jobs service, slow to record a /convert's job.

A task event that carries a /convert's record (convertix/direct.py) waits
SLOW_RECORD_S (a green sleep: the process goes on answering RPC, as it
must for /convert's quota check) before it is applied, its message
unacknowledged meanwhile: a test can kill the process while the record
waits. Run as `nameko run tests.slow_record_jobs:JobsService`
(tests/integration/test_convert_records_after.py).
"""
import os

import eventlet

from convertix.direct import RECORD
from services.jobs.service import JobsService  # (what `nameko run` starts)

SLOW_RECORD_S = float(os.environ.get("SLOW_RECORD_S", "60"))

_apply = JobsService._apply


def _slow_apply(self, payload, event):
    if payload.get(RECORD):
        eventlet.sleep(SLOW_RECORD_S)
    return _apply(self, payload, event)


JobsService._apply = _slow_apply
