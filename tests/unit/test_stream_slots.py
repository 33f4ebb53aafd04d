"""Open event streams, bounded per user in every gateway process (Redis) and
per process (gateway/stream_slots.py), without a running stack."""
import time
import uuid

import pytest
import redis

from convertix.errors import ConvertixError
from gateway.stream_slots import MemorySlots, RedisSlots, process_stream_cap, stream_slots
from tests.unit.test_gateway_hardening import REDIS, make_app, needs_redis


@pytest.mark.parametrize("worker_class, connections, threads, cap", [
    ("gevent", 1000, 8, 750),    # a quarter of the connections for everything else
    ("gevent", 4, 8, 3),
    ("gevent", 1, 8, 0),
    ("gthread", 1000, 8, 4),     # a stream holds a thread: half of them
    ("gthread", 1000, 1, 0),
])
def test_a_process_keeps_connections_for_other_requests(worker_class, connections, threads, cap):
    assert process_stream_cap(worker_class, connections, threads) == cap


def check_table(first, second):
    """Two tables over one store (two gateway processes): a cap of 2 in all."""
    user, now = uuid.uuid4().hex, time.time()
    assert first.open(user, "a", now, now + 60, 2) == (True, 1)
    assert second.open(user, "b", now, now + 30, 2) == (True, 2)
    added, oldest_end = second.open(user, "c", now, now + 60, 2)
    assert not added and oldest_end == pytest.approx(now + 30)
    first.close(user, "a")
    assert second.open(user, "c", now, now + 60, 2) == (True, 2)
    # a member past its end (its process was killed) no longer counts
    assert first.open(user, "d", now + 31, now + 90, 2) == (True, 2)


def test_the_memory_table_bounds_a_user():
    table = MemorySlots()
    check_table(table, table)


@needs_redis
def test_the_redis_table_bounds_a_user_across_processes():
    prefix = "test-" + uuid.uuid4().hex
    check_table(RedisSlots(redis.Redis.from_url(REDIS), prefix),
                RedisSlots(redis.Redis.from_url(REDIS), prefix))


def refused(slots, user):
    with pytest.raises(ConvertixError) as caught:
        with slots.hold(user):
            pass
    return caught.value


@pytest.mark.parametrize("storage", ["memory://", pytest.param(REDIS, marks=needs_redis)])
def test_past_the_cap_429_with_retry_after(tmp_path, storage):
    app = make_app(tmp_path, RATE_LIMIT_STORAGE=storage, SSE_STREAMS_PER_USER=2,
                   SSE_HEARTBEAT_S=10, RATE_LIMIT_PREFIX="test-" + uuid.uuid4().hex)
    with app.app_context():
        slots = stream_slots()
        with slots.hold("alice"), slots.hold("alice"):
            exc = refused(slots, "alice")
            assert exc.code == "RATE_LIMITED" and 1 <= exc.retry_after_s <= 10
            with slots.hold("bob"):  # another user is not counted with alice
                pass
        with slots.hold("alice"):  # given back
            pass


def test_past_the_process_share_503_with_retry_after(tmp_path):
    app = make_app(tmp_path, GATEWAY_WORKER_CLASS="gevent", GATEWAY_CONNECTIONS=4)
    with app.app_context():
        slots = stream_slots()
        with slots.hold("a"), slots.hold("b"), slots.hold("c"):
            exc = refused(slots, "d")
            assert exc.code == "BACKEND_UNAVAILABLE" and exc.retry_after_s == 10
        assert slots.in_process == 0
