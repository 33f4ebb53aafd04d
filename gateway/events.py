"""Job events in the gateway: one listener per gateway process, many waiters.

The jobs service dispatches `job_changed` (a nameko event: the topic
exchange `jobs.events`, routing key `job_changed`: convertix/contract.py's
JOBS_EVENTS_EXCHANGE and JOB_CHANGED) after each committed change of a job.
Each gateway process binds one exclusive, auto-delete queue to it and reads
it on one background thread (a greenlet under gunicorn's gevent worker);
each event wakes the requests waiting on that job
(gateway/waiters.py). No request polls, and no event costs an RPC.

A missed event must not strand anyone: a waiter reads the job document by
RPC when it starts, again whenever the listener (re)connects (events may
have been lost meanwhile), and every FALLBACK_POLL_S while the listener is
down. Documents carry `seq`, so an older one never replaces a newer one.
"""
import contextlib
import logging
import os
import socket
import threading
import time
import uuid

from kombu import Connection, Exchange, Queue

from convertix.contract import JOB_CHANGED, JOB_FINAL, JOBS_EVENTS_EXCHANGE, read_job_change
from gateway import sse
from gateway.settings import default
from gateway.waiters import RESYNC, WaiterRegistry

log = logging.getLogger(__name__)

EXTENSION = "convertix.events"
FALLBACK_POLL_S = 1.0       # while the listener is down, waiters read the job by RPC this often
RECONNECT_MAX_S = 5.0       # the listener's back-off between connection attempts
DRAIN_TIMEOUT_S = 1.0       # how often the listener checks heartbeats and whether to stop
AMQP_HEARTBEAT_S = 30
RETRY_MS = 2000             # the SSE client's reconnection delay
REPLY_TO_WAIT_S = 2.0       # how long /convert waits for the listener to connect (reply_to)
CHECK_S = 2.0               # an open stream asks whether its token still holds this often
# why a stream ends before its job does (the `end` event's reason)
TOKEN_EXPIRED, TOKEN_REVOKED, MAX_AGE = "token_expired", "token_revoked", "max_age"
END_REASONS = (TOKEN_EXPIRED, TOKEN_REVOKED, MAX_AGE)


def events_exchange():
    """The exchange nameko sends the jobs service's events to (declared as nameko does)."""
    return Exchange(JOBS_EVENTS_EXCHANGE, type="topic", durable=True)


class JobEventListener:
    """Reads job_changed on one thread and hands each to the registry."""

    def __init__(self, amqp_uri, registry):
        self.amqp_uri = amqp_uri
        self.registry = registry
        self.connected = threading.Event()
        self.received = 0
        self.queue_name = None  # while connected: /convert's answers come here (convertix/direct.py)
        self._stop = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    def ensure_started(self):
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="convertix-job-events",
                                 daemon=True).start()

    def close(self):
        self._stop.set()

    def _queue(self):
        name = f"convertix.gateway.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        return Queue(name, exchange=events_exchange(), routing_key=JOB_CHANGED,
                     durable=False, exclusive=True, auto_delete=True)

    def _run(self):
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with Connection(self.amqp_uri, heartbeat=AMQP_HEARTBEAT_S,
                                connect_timeout=5) as conn:
                    conn.ensure_connection(max_retries=1)
                    queue = self._queue()
                    with conn.Consumer(queue, callbacks=[self._on_message],
                                       accept=["json"], no_ack=True):
                        self.queue_name = queue.name
                        self.connected.set()
                        log.info("job events: listening")
                        # Bound now: anything missed before this is read again by RPC.
                        self.registry.resync_all()
                        backoff = 0.1
                        self._drain(conn)
            except Exception as exc:  # any broker trouble: reconnect, waiters poll meanwhile
                if self._stop.is_set():
                    break
                log.warning("job events: %s: %s; reconnecting", type(exc).__name__, exc)
            finally:
                self.connected.clear()
                self.queue_name = None
            with self._lock:
                if not len(self.registry):  # nobody waits: the next watch() starts us again
                    self._started = False
                    return
            self._stop.wait(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_S)

    def _drain(self, conn):
        while not self._stop.is_set():
            try:
                conn.drain_events(timeout=DRAIN_TIMEOUT_S)
            except socket.timeout:
                conn.heartbeat_check()

    def _on_message(self, body, message):
        try:
            self.received += 1
            self.registry.publish(*read_job_change(body))
        except (KeyError, TypeError, ValueError):
            log.warning("job events: a job_changed without job_id/seq/document was ignored")


class JobEvents:
    """The Flask extension (`app.extensions["convertix.events"]`)."""

    def __init__(self, app=None):
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        self.registry = WaiterRegistry()
        self.listener = JobEventListener(app.config["AMQP_URI"], self.registry)
        self.heartbeat_s = float(app.config.get("SSE_HEARTBEAT_S", default("SSE_HEARTBEAT_S")))
        self.draining = False
        app.extensions[EXTENSION] = self

    def drain(self):
        """The process is stopping: end every event stream now (clients reconnect
        elsewhere with Last-Event-ID) rather than hold the stop for its grace time."""
        self.draining = True
        self.registry.resync_all()

    @contextlib.contextmanager
    def watch(self, job_id):
        """`with events.watch(job_id) as waiter:` (the listener starts on first use)."""
        with self.registry.watch(job_id) as waiter:
            self.listener.ensure_started()
            yield waiter

    def reply_to(self, wait_s=REPLY_TO_WAIT_S):
        """This process's event queue, where a converter may answer; None if the
        listener is not connected within `wait_s` (it starts on a process's
        first watch(): without the wait, that request's answer had nowhere to go)."""
        if not self.listener.connected.wait(wait_s):
            return None
        return self.listener.queue_name

    def _timeout(self, limit):
        return limit if self.listener.connected.is_set() else min(limit, FALLBACK_POLL_S)

    def next_document(self, waiter, after_seq, fetch, timeout):
        """The job's next document newer than `after_seq` (as `(seq, doc)`), or None
        after `timeout`. `fetch()` reads it by RPC, when events may have been missed."""
        deadline = time.monotonic() + timeout
        while True:
            got = waiter.next(after_seq, self._timeout(max(deadline - time.monotonic(), 0)))
            if got is not None and got is not RESYNC:
                return got
            if got is None and time.monotonic() >= deadline or self.draining:
                return None
            # asked to resync, or the listener is down: read the job ourselves
            document = fetch()
            waiter.offer(document["seq"], document)

    def wait_final(self, waiter, fetch, timeout):
        """The job's document once final, or the newest one when `timeout` passes."""
        deadline = time.monotonic() + timeout
        while waiter.document is None or waiter.document["status"] not in JOB_FINAL:
            left = deadline - time.monotonic()
            if left <= 0 or self.next_document(waiter, waiter.seq, fetch, left) is None:
                break
        return waiter.document

    def stream(self, waiter, fetch, last_seen, why_end=None, max_s=None):
        """SSE text: documents newer than `last_seen` (the current one first),
        a comment every heartbeat_s while nothing happens, until a final status.

        `why_end()` says why the stream must end now (its token expired or was
        revoked: END_REASONS), or None; it is asked before each event and each
        heartbeat, and at least every CHECK_S. After `max_s` seconds the stream
        ends too. Either way the last thing sent is an `end` event naming why;
        the client reconnects with Last-Event-ID (and a valid token)."""
        yield sse.retry(RETRY_MS)
        if waiter.seq < last_seen:
            last_seen = -1  # an id we never gave: start from the current document
        sent = last_seen
        if waiter.seq <= sent and waiter.document["status"] in JOB_FINAL:
            return  # seen to the end already
        ends_at = time.monotonic() + (max_s if max_s is not None else float("inf"))
        next_beat = time.monotonic() + self.heartbeat_s
        while not self.draining:
            now = time.monotonic()
            got = self.next_document(waiter, sent, fetch,
                                     max(min(next_beat, ends_at, now + CHECK_S) - now, 0))
            if got is None and self.draining:
                return
            reason = MAX_AGE if time.monotonic() >= ends_at else why_end and why_end()
            if reason:
                yield sse.end_frame(reason, sent)
                return
            if got is None:
                if time.monotonic() >= next_beat:
                    yield sse.comment()
                    next_beat = time.monotonic() + self.heartbeat_s
                continue
            sent, document = got
            yield sse.event_frame(sent, document)
            next_beat = time.monotonic() + self.heartbeat_s
            if document["status"] in JOB_FINAL:
                return

    def close(self):
        self.listener.close()


def job_events(app):
    return app.extensions[EXTENSION]


def drain_when_stopping(worker, interval_s=0.5):
    """gunicorn's post_worker_init: end the streams once the worker is told to stop.

    gunicorn's SIGTERM only clears `worker.alive`, then waits graceful_timeout
    for open requests; an event stream would hold it that long. Watched from
    a thread (a greenlet under gevent), not in the signal handler.
    """
    def watch():
        while worker.alive:
            time.sleep(interval_s)
        job_events(worker.wsgi).drain()

    threading.Thread(target=watch, name="convertix-drain", daemon=True).start()
