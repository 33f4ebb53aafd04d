"""How many event streams are open: per user in every gateway process, and per process.

An open stream (GET /jobs/<id>/events) holds one of its process's
connections for as long as it lasts, so both are bounded before a stream
starts (and before any RPC is made for it):

- **Per user** (GATEWAY.sse_streams_per_user, in all processes and replicas):
  a sorted set per user in the rate limits' store (Redis), one member per
  open stream, scored by the time that stream ends at the latest (its
  maximum life, GATEWAY.sse_max_stream_s, plus slack). Opening removes the
  members past their end (a process killed mid-stream leaves its own; they
  count only until then), counts, and adds one, in one Lua script: processes
  never race, and nothing drifts (as a counter would, decremented after its
  key expired). Closing removes its member. One more is 429 RATE_LIMITED,
  `Retry-After` the seconds until a slot surely frees: the oldest stream's
  end, or a heartbeat (a client that went away is noticed at the next one).
  If the store is unreachable, this process counts on its own (the cap holds
  per process), as the rate limits fall back to memory.
- **Per process** (`process_stream_cap`): streams take at most a share of
  what a process holds (gevent: worker_connections, gthread: threads), so
  the rest always answers other requests; past it 503 with `Retry-After`.
"""
import contextlib
import logging
import threading
import time
import uuid

from flask import current_app

from gateway.errors import too_many
from gateway.limits import limiter
from gateway.settings import default

log = logging.getLogger(__name__)

EXTENSION = "convertix.stream_slots"
SLACK_S = 10.0  # a stream notices its end within a token check (gateway/events.py CHECK_S)

# worker class -> the streams one process may hold, from (worker_connections, threads):
# a quarter of a gevent worker's connections, half a gthread worker's threads,
# are kept for every other request.
PROCESS_SHARE = {
    "gevent": lambda connections, threads: connections - max(connections // 4, 1),
    "gthread": lambda connections, threads: threads // 2,
}

# KEYS[1]: the user's set. ARGV: now, this stream's end, its member, the cap, the key's TTL.
# Returns {1, count} when added, {0, the oldest member's end} when full.
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, oldest[2] or ARGV[2]}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, tostring(held + 1)}
"""


def process_stream_cap(worker_class, worker_connections, threads):
    """The event streams one gateway process may hold at once (pure)."""
    share = PROCESS_SHARE.get(worker_class, PROCESS_SHARE["gthread"])
    return max(share(int(worker_connections), int(threads)), 0)


class MemorySlots:
    """One process's table: {user: {member: end}}; the fallback, and memory:// stores."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = {}

    def open(self, user, member, now, ends_at, cap):
        with self.lock:
            held = self.users.setdefault(user, {})
            for gone in [m for m, end in held.items() if end <= now]:
                del held[gone]
            if len(held) >= cap:
                return False, min(held.values())
            held[member] = ends_at
            return True, len(held)

    def close(self, user, member):
        with self.lock:
            held = self.users.get(user, {})
            held.pop(member, None)
            if not held:
                self.users.pop(user, None)


class RedisSlots:
    def __init__(self, client, prefix):
        self.client = client
        self.prefix = prefix
        self.script = client.register_script(_OPEN)

    def key(self, user):
        return f"{self.prefix}:streams:{user}"

    def open(self, user, member, now, ends_at, cap):
        added, value = self.script(keys=[self.key(user)], args=[
            now, ends_at, member, cap, int(ends_at - now + SLACK_S) + 1])
        return bool(int(added)), float(value)

    def close(self, user, member):
        self.client.zrem(self.key(user), member)


class StreamSlots:
    """The Flask extension: both bounds, and the context manager a stream holds."""

    def __init__(self, app):
        def config(key):  # a test's config may leave a key out: the schema's default
            return app.config.get(key, default(key))
        self.per_user = int(config("SSE_STREAMS_PER_USER"))
        self.max_stream_s = float(config("SSE_MAX_STREAM_S"))
        self.heartbeat_s = float(config("SSE_HEARTBEAT_S"))
        self.per_process = process_stream_cap(
            config("GATEWAY_WORKER_CLASS"), config("GATEWAY_CONNECTIONS"),
            config("GATEWAY_THREADS"))
        self.in_process = 0
        self.lock = threading.Lock()
        self.memory = MemorySlots()
        self.prefix = app.config["RATE_LIMIT_PREFIX"]  # set by gateway/limits.py
        self._shared = None
        app.extensions[EXTENSION] = self

    def shared(self):
        """The store's table when it is Redis (the rate limits' client), else None."""
        if self._shared is None:
            client = getattr(limiter.storage, "storage", None)  # limits' RedisStorage
            self._shared = RedisSlots(client, self.prefix) if hasattr(
                client, "register_script") else False
        return self._shared or None

    @contextlib.contextmanager
    def hold(self, user):
        """One stream of `user` while the block runs, or 503/429 at once."""
        with self._in_this_process():
            member, now = uuid.uuid4().hex, time.time()
            ends_at = now + self.max_stream_s + SLACK_S
            table = self.shared() or self.memory
            try:
                added, value = table.open(user, member, now, ends_at, self.per_user)
            except Exception:
                log.warning("stream slots: store unreachable; counted in this process",
                            exc_info=True)
                table = self.memory
                added, value = table.open(user, member, now, ends_at, self.per_user)
            if not added:
                raise too_many(
                    f"at most {self.per_user} open event streams per user; close one",
                    min(value - now, self.heartbeat_s), streams=self.per_user)
            try:
                yield
            finally:
                try:
                    table.close(user, member)
                except Exception:  # its end passes anyway
                    log.warning("stream slots: not released; it ends by itself", exc_info=True)

    @contextlib.contextmanager
    def _in_this_process(self):
        with self.lock:
            if self.in_process >= self.per_process:
                full = True
            else:
                full = False
                self.in_process += 1
        if full:
            raise too_many(
                "this gateway process holds as many event streams as it may; try again, "
                "or read GET /jobs/<id>", self.heartbeat_s, code="BACKEND_UNAVAILABLE",
                streams=self.per_process)
        try:
            yield
        finally:
            with self.lock:
                self.in_process -= 1


def stream_slots(app=None):
    return (app or current_app).extensions[EXTENSION]
