"""How many sandboxes consume the conversion queue now: its consumers (one per
converter replica, read with a passive declare) times the sandboxes each runs
(CONVERTER.workers; each prefetches more: CONVERTER.tasks_ahead_per_sandbox).

The jobs service divides this among the users with work (services/jobs/fair.py).
Read at most every CACHE_S: a refill follows every task's end.
"""
import logging
import time

from nameko.extensions import DependencyProvider

from convertix.contract import CONVERT_QUEUE
from infra.config.schema import CONVERTER, read
from infra.queue_stats import QueueStatsReader

log = logging.getLogger(__name__)
CACHE_S = 2.0


class Capacity:
    def __init__(self, amqp_uri, per_consumer, clock=time.monotonic):
        self.queue = QueueStatsReader(amqp_uri)  # its passive declare, as the scaler's
        self.per_consumer = per_consumer
        self.clock = clock
        self._value, self._at = None, None

    def sandboxes(self):
        """Consumers x sandboxes each; 0 when nothing consumes (or the broker
        cannot say: the caller falls back to its floor)."""
        now = self.clock()
        if self._at is None or now - self._at >= CACHE_S:
            self._value, self._at = self._read(), now
        return self._value

    def _read(self):
        try:
            _, consumers = self.queue.declare_passive(CONVERT_QUEUE)
        except Exception as exc:  # not declared yet, or the broker is restarting
            log.info("conversion queue capacity unknown: %s", exc)
            return 0
        return consumers * self.per_consumer


class ConverterCapacity(DependencyProvider):
    def setup(self):
        config = self.container.config
        per_consumer = read(config, CONVERTER)["workers"]
        self.capacity = Capacity(config["AMQP_URI"], per_consumer)

    def get_dependency(self, worker_ctx):
        return self.capacity
