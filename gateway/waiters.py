"""Who waits for which job: one Waiter per waiting request, woken by job events.

Pure (threading only): under gunicorn's gevent worker these are greenlets'
locks, under gthread real threads'. The event listener (gateway/events.py)
offers each job_changed document to the job's waiters; a waiter keeps the
newest one (by seq) and wakes its request. `resync_all` asks every waiter
to fetch the document itself, after the listener (re)connects and so may
have missed events.
"""
import contextlib
import threading
import time

RESYNC = "resync"  # Waiter.next(): fetch the document, events may have been missed


class Waiter:
    def __init__(self, job_id):
        self.job_id = job_id
        self.seq = -1
        self.document = None
        self._resync = False
        self._cond = threading.Condition()

    def offer(self, seq, document):
        """Keep `document` if it is newer than what we have; True if it was."""
        with self._cond:
            if seq <= self.seq:
                return False
            self.seq, self.document = seq, document
            self._cond.notify_all()
            return True

    def request_resync(self):
        with self._cond:
            self._resync = True
            self._cond.notify_all()

    def next(self, after_seq, timeout):
        """(seq, document) newer than `after_seq`, RESYNC, or None once `timeout` passed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._resync:
                    self._resync = False
                    return RESYNC
                if self.seq > after_seq:
                    return self.seq, self.document
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


class WaiterRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_job = {}

    @contextlib.contextmanager
    def watch(self, job_id):
        """A Waiter for `job_id` while the block runs (subscribe before reading the job)."""
        waiter = Waiter(job_id)
        with self._lock:
            self._by_job.setdefault(job_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                waiters = self._by_job.get(job_id)
                waiters.discard(waiter)
                if not waiters:
                    del self._by_job[job_id]

    def publish(self, job_id, seq, document):
        """Wake every waiter of `job_id` with this document; how many took it."""
        with self._lock:
            waiters = list(self._by_job.get(job_id, ()))
        return sum(waiter.offer(seq, document) for waiter in waiters)

    def resync_all(self):
        with self._lock:
            waiters = [w for group in self._by_job.values() for w in group]
        for waiter in waiters:
            waiter.request_resync()

    def __len__(self):
        with self._lock:
            return sum(len(group) for group in self._by_job.values())
