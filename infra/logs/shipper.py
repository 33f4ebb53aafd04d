"""Shipping ECS lines to Elasticsearch, off the request path.

`offer()` is all a logging call pays: a sequence number and an append to a
bounded memory buffer. When the buffer is full, its contents go to the disk
spool as one segment (a write to a local file, never the network). One
background thread (a greenlet under eventlet) does the rest:

1. while the spool has segments, it sends the oldest (adopted spools of dead
   processes first), and removes it once Elasticsearch has every line;
2. else it sends what the memory buffer holds, in batches;
3. a batch that cannot be sent (connection refused, timeout, a 429 or 5xx
   for the whole request) goes to the spool, and the thread backs off
   (doubling, up to `max_backoff_s`). The spool is then replayed first, so
   lines arrive in the order they were logged.

Each line is sent as `create` (the only op a data stream takes) with an `_id`
made of its spool's name (unique per process: host, pid and a random part)
and the line's sequence number, so a line
sent twice (a reply lost after Elasticsearch stored it) is answered 409 and
counts as stored. Per-item 429s and 5xx are retried; other per-item errors
(a mapping conflict, say) can never succeed, so those lines are kept in the
spool's `rejected.ndjson`, and a warning says so.

`close()` (at logging shutdown) stops the thread and spools whatever is still
in memory, so a process that stops loses nothing; a process that is killed
loses at most its memory buffer, and its spool is adopted by the next.
"""
import collections
import itertools
import json
import logging
import os
import threading
import time

from infra.logs.spool import Spool

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503, 504})
REJECTED = "rejected.ndjson"

_shipper_thread = threading.local()


def in_shipper():
    """True in the shipper's own thread: its lines (the client's) are not shipped."""
    return getattr(_shipper_thread, "active", False)


class Shipper:
    def __init__(self, settings, name):
        self.settings = settings
        self.name = name
        self.buffer_size = int(settings.buffer_size)
        self.batch_size = int(settings.batch_size)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pid = None
        self._thread = None
        self.stats = collections.Counter()

    # --- the logging side: never waits on the network --------------------

    def offer(self, line):
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            seq = next(self._seq)
            self._buffer.append((seq, line))
            overflow = None
            if len(self._buffer) >= self.buffer_size:
                overflow, self._buffer = list(self._buffer), collections.deque()
            waiting = len(self._buffer)
        if overflow:
            self._spool_write(overflow)
            self.stats["spilled"] += len(overflow)
        if waiting >= self.batch_size or overflow:
            self._wake.set()

    def _start(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._seq = itertools.count(1)
            self._buffer = collections.deque()
            self._inflight = []
            self._spool = Spool.create(self.settings.spool_dir, self.name)
            self._adopted = []
            self._adopted_at = 0.0
            self._es = None
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="convertix-log-shipper",
                                            daemon=True)
            self._thread.start()

    # --- the background thread ------------------------------------------

    def _run(self):
        _shipper_thread.active = True
        backoff = 0.0
        while not self._stopping.is_set():
            try:
                sent = self._step()
            except Exception:  # never let the thread die; try again later
                log.warning("log shipper error", exc_info=True)
                sent = False
            if sent is None:  # nothing to do
                backoff = 0.0
                self._wake.wait(self.settings.flush_interval_s)
                self._wake.clear()
            elif sent:
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, self.settings.min_backoff_s),
                              self.settings.max_backoff_s)
                self._stopping.wait(backoff)

    def _step(self):
        """Send one segment or one batch: True sent, False failed, None idle."""
        spool, segment = self._next_segment()
        if segment is not None:
            entries = Spool.read(segment)
            pending = self._send(entries, spool.id)
            spool.replace(segment, pending)
            if spool is not self._spool:
                spool.remove_if_empty()
            return not pending
        with self._lock:
            if not self._buffer:
                return None
            count = min(len(self._buffer), self.batch_size)
            self._inflight = [self._buffer.popleft() for _ in range(count)]
        pending = self._send(self._inflight, self._spool.id)
        if pending:
            self._spool_write(pending)
        self._inflight = []
        return not pending

    def _next_segment(self):
        now = time.monotonic()
        if now - self._adopted_at > self.settings.adopt_interval_s:
            self._adopted_at = now
            known = {s.path for s in self._adopted} | {self._spool.path}
            self._adopted += Spool.adopt_orphans(self.settings.spool_dir, exclude=known)
        for spool in list(self._adopted):
            segment = spool.oldest()
            if segment is not None:
                return spool, segment
            if spool.remove_if_empty():
                self._adopted.remove(spool)
        return self._spool, self._spool.oldest()

    def _send(self, entries, origin):
        """Bulk-create `entries`; retry per-item 429/5xx a few times. What is left unsent."""
        pending = list(entries)
        for attempt in range(self.settings.item_retries + 1):
            if not pending or self._stopping.is_set() and attempt:
                break
            if attempt:
                time.sleep(self.settings.min_backoff_s * 2 ** (attempt - 1))
            left = self._bulk(pending, origin)
            if left is None:  # the request as a whole failed: all of it is pending
                return pending
            pending = left
        return pending

    def _bulk(self, entries, origin):
        """One `_bulk` request: the entries to retry, or None if it failed as a whole."""
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        operations = []
        for seq, line in entries:
            operations.append(json.dumps({"create": {"_index": self.settings.data_stream,
                                                     "_id": f"{origin}-{seq}"}}))
            operations.append(line)
        try:
            answer = self._client().bulk(operations=operations)
        except (TransportError, ApiError) as exc:  # connection, timeout, 429/5xx for all
            self.stats["failed_requests"] += 1
            if self.stats["failed_requests"] == 1 or self.stats["failed_requests"] % 100 == 0:
                log.warning("Elasticsearch unavailable (%s); spooling logs in %s",
                            exc, self._spool.path)
            return None
        retry, rejected = [], []
        for entry, item in zip(entries, answer["items"]):
            result = next(iter(item.values()))
            status = int(result.get("status", 500))
            if status < 300 or status == 409:  # 409: stored by an earlier try
                self.stats["shipped"] += 1
            elif status in RETRYABLE:
                retry.append(entry)
            else:
                rejected.append((entry, result.get("error")))
        if rejected:
            self._reject(rejected)
        self.stats["retried"] += len(retry)
        return retry

    def _reject(self, rejected):
        self.stats["rejected"] += len(rejected)
        with open(os.path.join(self._spool.path, REJECTED), "a", encoding="utf-8") as handle:
            for (seq, line), error in rejected:
                handle.write(json.dumps({"seq": seq, "error": error, "line": line}) + "\n")
        log.warning("Elasticsearch rejected %d log lines (first: %s); kept in %s",
                    len(rejected), rejected[0][1], os.path.join(self._spool.path, REJECTED))

    def _client(self):
        if self._es is None:
            from infra.logs.elastic import client

            self._es = client(self.settings)
        return self._es

    def _spool_write(self, entries):
        self._spool.write(entries)

    # --- shutdown ---------------------------------------------------------

    def flush(self, timeout=10.0):
        """Wait until memory and spool are empty (tests, benchmarks): True if they are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._buffer or self._inflight)
            if not busy and self._spool.oldest() is None and not any(
                    s.oldest() for s in self._adopted):
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

    def close(self, timeout=2.0):
        if self._pid != os.getpid() or self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        with self._lock:
            # A batch still in flight is spooled too: if it did arrive, its
            # replay is answered 409 (same _id) and counted as stored.
            left = list(self._inflight) + list(self._buffer)
            self._buffer.clear()
        left.sort()
        if left:
            self._spool_write(left)
        self._spool.close()
        self._pid = None
