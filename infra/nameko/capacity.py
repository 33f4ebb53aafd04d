"""How many sandboxes consume the conversion queue now: its consumers (one per
converter replica, read with a passive declare) times the sandboxes each runs
(CONVERTER.workers; each prefetches more: CONVERTER.tasks_ahead_per_sandbox).

The jobs service divides this among the users with work (services/jobs/fair.py).
Read at most every CACHE_S: a refill follows every task's end.
"""
import contextlib
import logging
import threading
import time

from kombu import Connection
from nameko.extensions import DependencyProvider

from convertix.contract import CONVERT_QUEUE
from infra.config.schema import CONVERTER, read

log = logging.getLogger(__name__)
CACHE_S = 2.0
READ_S = 5.0


class Capacity:
    """The passive declare runs on one connection kept open, each read cut
    after READ_S: a connection per read looked the broker's name up each
    time, and with the system resolver (EVENTLET_NO_GREENDNS) a slow answer
    of Docker's DNS (seconds, while a node was down) held the whole process;
    a channel's opening and a declare have no limit of their own. One read
    at a time: a worker that finds one under way takes the last value."""

    def __init__(self, amqp_uri, per_consumer, clock=time.monotonic):
        self.amqp_uri = amqp_uri
        self.per_consumer = per_consumer
        self.clock = clock
        self._value, self._at = None, None
        self._conn = None
        self._reading = threading.Lock()

    def sandboxes(self):
        """Consumers x sandboxes each; 0 when nothing consumes (or the broker
        cannot say: the caller falls back to its floor)."""
        now = self.clock()
        if self._at is None or now - self._at >= CACHE_S:
            if not self._reading.acquire(blocking=False):
                return self._value or 0
            try:
                self._value, self._at = self._read(), now
            finally:
                self._reading.release()
        return self._value

    def _read(self):
        try:
            with _bounded(READ_S):
                if self._conn is None:
                    self._conn = Connection(self.amqp_uri, connect_timeout=5)
                _, _, consumers = self._conn.default_channel.queue_declare(
                    queue=CONVERT_QUEUE, passive=True)
        except BaseException as exc:  # not declared yet, the broker away, or too slow
            self._drop()
            if not isinstance(exc, Exception) and not isinstance(exc, _Slow):
                raise
            log.info("conversion queue capacity unknown: %r", exc)
            return 0
        return consumers * self.per_consumer

    def _drop(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.collect()
            except Exception:  # closing a broken connection may fail too
                pass


class _Slow(Exception):
    pass


def _bounded(seconds):
    """eventlet's Timeout raising _Slow, where eventlet patched the sockets."""
    try:
        from eventlet import Timeout, patcher
    except ImportError:
        return contextlib.nullcontext()
    if not patcher.is_monkey_patched("socket"):
        return contextlib.nullcontext()
    return Timeout(seconds, _Slow(f"no answer within {seconds:g} s"))


class ConverterCapacity(DependencyProvider):
    def setup(self):
        config = self.container.config
        per_consumer = read(config, CONVERTER)["workers"]
        self.capacity = Capacity(config["AMQP_URI"], per_consumer)

    def get_dependency(self, worker_ctx):
        return self.capacity
