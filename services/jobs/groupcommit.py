"""Group commits: the task events that arrive together are applied together.

Each event handler (a nameko worker, one per message) hands its event to
`GroupCommit.submit(item, apply)` and waits. One worker at a time leads:
after a short wait (`JOBS.event_batch_wait_s`, for the messages the broker
delivered in the same read to reach us) it takes every event waiting, up to
`JOBS.event_batch_max`, and calls `apply(items)` once: one transaction and
one commit for all of them (services/jobs/service.py `_apply_batch`; an
item's result may be an exception, raised for that event alone). Every
worker then returns its own event's result, or raises its batch's error, so
a message is acknowledged only after its change is committed, and a failed
batch is requeued whole (every handler is idempotent). While a batch is
being applied the next events queue up behind the lock and make the next
batch: under load batches grow by themselves, alone an event waits only
the short wait.
"""
import eventlet
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from infra.config.schema import JOBS, read


class _Entry:
    __slots__ = ("item", "done", "taken")

    def __init__(self, item):
        self.item = item
        self.done = Event()
        self.taken = False


class Batcher:
    """submit(item, apply) -> apply's result for that item (see the module's docstring)."""

    def __init__(self, max_items, wait_s, sleep=eventlet.sleep):
        self.max_items = max_items
        self.wait_s = wait_s
        self._sleep = sleep
        self._waiting = []
        self._lock = Semaphore(1)  # one batch at a time in this process

    def submit(self, item, apply):
        entry = _Entry(item)
        self._waiting.append(entry)
        with self._lock:
            if not entry.taken:  # nobody took it while we waited for the lock: lead
                self._lead(apply)
        if not entry.done.ready():
            # its leader was killed mid-batch: nothing is known of the change
            raise RuntimeError("the batch of this event did not finish")
        return entry.done.wait()  # the result, or raises the batch's error

    def _lead(self, apply):
        self._sleep(self.wait_s)  # the events delivered together get here too
        batch = self._waiting[:self.max_items]
        del self._waiting[:self.max_items]
        for entry in batch:
            entry.taken = True
        try:
            results = apply([entry.item for entry in batch])
        except BaseException as exc:
            for entry in batch:
                entry.done.send_exception(exc)
            if not isinstance(exc, Exception):
                raise  # the leader itself is being killed
            return
        for entry, result in zip(batch, results):
            if isinstance(result, Exception):  # that event alone failed
                entry.done.send_exception(result)
            else:
                entry.done.send(result)


class GroupCommit(DependencyProvider):
    """The jobs service's Batcher, one per service process."""

    def setup(self):
        settings = read(self.container.config, JOBS)
        self.batcher = Batcher(settings["event_batch_max"], settings["event_batch_wait_s"])

    def get_dependency(self, worker_ctx):
        return self.batcher.submit
