"""The real jobs service, with a refill's read held open longer.

After a refill has read a user's waiting tasks (services/jobs/fair.py
`next_tasks`) and before it publishes them, the whole process blocks for
SLOW_REFILL_S (the unpatched sleep, as during a slow query). Two such
processes refilling one user at once would both publish what both read,
unless the refill holds its lock across processes. Run as
`nameko run tests.slow_refill_jobs:JobsService` (tests/integration/test_refill_race.py).
"""
import os

from eventlet import patcher

from services.jobs import fair
from services.jobs.service import JobsService  # noqa: F401  (what `nameko run` starts)

SLOW_REFILL_S = float(os.environ.get("SLOW_REFILL_S", "0.3"))

_blocking_sleep = patcher.original("time").sleep
_next_tasks = fair.next_tasks


def _slow_next_tasks(*args, **kwargs):
    rows = _next_tasks(*args, **kwargs)
    _blocking_sleep(SLOW_REFILL_S)
    return rows


fair.next_tasks = _slow_next_tasks
