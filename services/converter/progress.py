"""A task's stage reports, sent for slow tasks only.

Every report is an event the jobs service turns into a transaction and a
`job_changed` that the gateway and the notifier handle: five per task when
each stage is reported. For a task done in a fraction of a second nobody sees
the stages, and those reports were most of the system's CPU per task outside
the engine. So a task reports nothing until it has run `after_s`; then it
reports the stage it is in, and every later stage as it comes. A fast task's
only event is its final one (the jobs service moves a queued task straight to
succeeded or failed); `after_s = 0` reports every stage at once, as before.

Reports and the final event may still arrive out of order (they travel on
different queues); the jobs service ignores a stage report for a task that
has ended. `close()` is called before the final event so that a report
already on its way is sent first.
"""
from functools import partial

import eventlet
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from convertix.contract import STAGES
from infra.config.schema import CONVERTER, read


class StageReports:
    """report(stage) as the conversion moves on; close() when it ends.

    `send(stage)`: dispatch the stage's event (the first stage is the task's
    `task_started`). `quiet_s`: nothing before then either, however small
    `after_s` (a /convert task while its gateway waits: convertix/direct.py)."""

    def __init__(self, send, after_s, quiet_s=0.0, spawn_after=eventlet.spawn_after):
        after_s = max(after_s, quiet_s)
        self._send = send
        self._stage = STAGES[0]
        self._lock = Semaphore(1)  # one report at a time: the timer's and the task's
        self._due = after_s <= 0
        self._fired = False
        self._timer = None
        if self._due:
            self._report(self._stage)
        else:
            self._timer = spawn_after(after_s, self._wake)

    def __call__(self, stage):
        self._stage = stage
        if self._due:
            self._report(stage)

    def close(self):
        if self._timer is None:
            return
        self._timer.cancel()  # not fired yet: it never will
        if self._fired:
            self._timer.wait()  # its report goes out before the final event

    def _wake(self):
        self._fired = True
        self._due = True
        self._report(self._stage)

    def _report(self, stage):
        with self._lock:
            self._send(stage)


class ProgressReports(DependencyProvider):
    """The worker's `progress(send)`: a task's StageReports, reporting after
    CONVERTER.progress_after_s."""

    def setup(self):
        self.after_s = read(self.container.config, CONVERTER)["progress_after_s"]

    def get_dependency(self, worker_ctx):
        return partial(StageReports, after_s=self.after_s)
