"""The real jobs service, with job creation's transaction held open longer.

Between the quota check and the commit, creating a job looks for earlier
results to reuse (services/jobs/reuse.py); here that step first blocks the
whole process for SLOW_CREATE_S (the unpatched sleep: no other greenlet runs
meanwhile, as during a slow query). Two such processes on one database make
the window in which two creations for one user overlap wide and certain.
Run as `nameko run tests.slow_create_jobs:JobsService` (tests/integration/test_quota_race.py).
"""
import os

from eventlet import patcher

from services.jobs import reuse
from services.jobs.service import JobsService  # noqa: F401  (what `nameko run` starts)

SLOW_CREATE_S = float(os.environ.get("SLOW_CREATE_S", "0.3"))

_blocking_sleep = patcher.original("time").sleep
_reuse = reuse.reuse


def _slow_reuse(*args, **kwargs):
    _blocking_sleep(SLOW_CREATE_S)
    return _reuse(*args, **kwargs)


reuse.reuse = _slow_reuse
