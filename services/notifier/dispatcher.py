"""The notifier's attempt pool: webhook attempts run here, not in its workers.

An attempt may last NOTIFIER.timeout_s (a receiver that never answers). Run
inside the nameko workers that handle job events, a few dozen such attempts
held every worker, so every other user's webhook waited behind them. Here a
worker only records and picks (services/notifier/fairness.py) and hands the
attempt to this pool: its greenthreads are the process's, bounded in all,
per user and per host. A stopping notifier waits a moment for them, then
kills the rest; their claims' leases end and the attempts are made again.
"""
import logging

import eventlet
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from services.notifier.fairness import InFlight

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0  # a stopping notifier lets running attempts end this long


class AttemptPool:
    def __init__(self):
        self.in_flight = InFlight.empty()
        self.picking = Semaphore(1)  # one pass at a time, so the counts stay true
        self.pool = eventlet.GreenPool(10_000)  # bounded by the counts, not by the pool

    def start(self, user, host, send, *args):
        """Run `send(*args)` now; `user` and `host` were counted by fairness.pick."""
        def run():
            try:
                send(*args)
            finally:
                self.in_flight.remove(user, host)
        self.pool.spawn(run)

    def release(self, user, host):
        """A pick that did not start (claimed by another process meanwhile)."""
        self.in_flight.remove(user, host)

    def stop(self, wait_s=STOP_WAIT_S):
        with eventlet.Timeout(wait_s, False):
            self.pool.waitall()
        for thread in list(self.pool.coroutines_running):
            thread.kill()


class Attempts(DependencyProvider):
    """The AttemptPool of this notifier process, handed to every worker."""

    def setup(self):
        self.attempts = AttemptPool()

    def get_dependency(self, worker_ctx):
        return self.attempts

    def stop(self):
        self.attempts.stop()

    def kill(self):
        self.attempts.stop(wait_s=0)
