"""The gateway's fast failure when a broker member goes: the pure parts
(gateway/rpc_failfast.py), the pool dropping its idle proxies on a backend
error, and the 503 that says when to try again (gateway/rpc.py)."""
import contextlib

import pytest
from amqp.exceptions import NotAllowed
from flask import Flask
from nameko.exceptions import RpcTimeout, UnknownService

from gateway import errors, rpc
from gateway.rpc_failfast import publish_options, remaining_s, with_host


@pytest.mark.parametrize("deadline, now, left", [
    (10.0, 4.0, 6.0),
    (10.0, 10.0, 0.0),
    (10.0, 12.5, 0.0),     # past it: nothing left, never negative
])
def test_remaining_s(deadline, now, left):
    assert remaining_s(deadline, now) == left


@pytest.mark.parametrize("uri, host, pinned", [
    ("pyamqp://u:p@rabbitmq:5672/", "10.0.1.7", "pyamqp://u:p@10.0.1.7:5672/"),
    ("pyamqp://u:p@rabbitmq/vh", "10.0.1.7", "pyamqp://u:p@10.0.1.7/vh"),
    ("pyamqp://rabbitmq:5672//", "10.0.1.7", "pyamqp://10.0.1.7:5672//"),
    ("amqp://u:p@rabbitmq:5672/", "fd00::7", "amqp://u:p@[fd00::7]:5672/"),
])
def test_with_host_replaces_only_the_host(uri, host, pinned):
    assert with_host(uri, host) == pinned


@pytest.mark.parametrize("timeout_s", [1.0, 5.0, 30.0])
def test_a_publish_waits_for_its_confirm_at_most_the_calls_timeout(timeout_s):
    assert publish_options(timeout_s) == {"confirm_timeout": timeout_s}


def test_unavailable_is_a_503_with_retry_after():
    app = Flask(__name__)
    errors.init_app(app)

    @app.get("/")
    def broken():
        raise rpc.unavailable("the broker went")
    answer = app.test_client().get("/")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(rpc.RETRY_AFTER_S) == "1"
    assert answer.get_json()["error"]["code"] == "BACKEND_UNAVAILABLE"


class FakeProxy:
    """Stands in for a started proxy: `fails` says what its next call raises."""
    made = []

    starts_failing = None     # what starting one raises, if anything
    next_peer = "10.0.0.1"
    timeouts = 0

    def __init__(self, config, timeout):
        if FakeProxy.starts_failing is not None:
            raise FakeProxy.starts_failing
        self.abandoned = self.closed = False
        self.fails = None
        self.peer = FakeProxy.next_peer   # the broker member it is connected to
        self.proxy = self
        FakeProxy.made.append(self)

    def set_context(self, data):
        pass

    def call(self):
        if self.fails:
            raise self.fails

    def abandon(self):
        self.abandoned = True

    def close(self):
        self.closed = True


@pytest.fixture
def pool(monkeypatch):
    monkeypatch.setattr(rpc, "_StartedProxy", FakeProxy)
    FakeProxy.made = []
    FakeProxy.starts_failing = None
    FakeProxy.next_peer = "10.0.0.1"
    app = Flask(__name__)
    app.config.update(AMQP_URI="amqp://x", RPC_TIMEOUT_S=5, RPC_POOL_SIZE=4)
    return rpc.RpcPool(app)


def test_a_backend_error_drops_every_idle_proxy_on_that_member(pool):
    proxies = []
    with pool.client() as a, pool.client() as b, pool.client() as c:
        proxies = [a, b, c]
    assert len(FakeProxy.made) == 3
    failing = proxies[0]          # put back last (the blocks end inner first): used next
    failing.fails = ConnectionError("reset")
    with pytest.raises(errors.ConvertixError) as raised:
        with pool.client() as proxy:
            assert proxy is failing
            proxy.call()
    assert raised.value.code == "BACKEND_UNAVAILABLE" and raised.value.retry_after_s == 1
    # the failed one and the idle ones abandoned; the next call opens a new one
    assert all(p.abandoned for p in proxies)
    with pool.client() as proxy:
        assert proxy not in proxies
    assert len(FakeProxy.made) == 4


def test_a_backend_error_keeps_the_idle_proxies_on_other_members(pool):
    with pool.client() as a, pool.client() as b:
        FakeProxy.next_peer = "10.0.0.2"
        with pool.client() as c:
            pass
    # idle now: c (10.0.0.2), b, a (10.0.0.1); a is used next
    a.fails = ConnectionError("reset")
    with pytest.raises(errors.ConvertixError):
        with pool.client() as proxy:
            assert proxy is a
            proxy.call()
    # a new proxy on 10.0.0.2 would declare a reply queue on a cluster that
    # just lost a member: c is kept and serves the next call
    assert a.abandoned and b.abandoned and not c.abandoned
    with pool.client() as proxy:
        assert proxy is c


def test_a_service_error_keeps_the_proxies(pool):
    with pool.client() as a, pool.client():
        pass
    a.fails = ValueError("a bug")
    with pytest.raises(ValueError):
        with pool.client() as proxy:
            proxy.call()
    assert not any(p.abandoned for p in FakeProxy.made)


def test_a_proxy_timed_out_twice_in_a_row_is_dropped_alone(pool):
    with pool.client() as a, pool.client() as b:
        pass
    a.fails = RpcTimeout()                 # put back last: used next
    for dropped in (False, True):          # kept after one timeout, not two
        with pytest.raises(errors.ConvertixError):
            with pool.client() as proxy:
                assert proxy is a
                proxy.call()
        assert a.abandoned is dropped and not b.abandoned
    with pool.client() as proxy:
        assert proxy is b


def test_an_answered_call_forgives_a_timeout(pool):
    with pool.client() as a:
        pass
    for fails in (RpcTimeout(), None, RpcTimeout(), None):
        a.fails = fails
        with contextlib.suppress(errors.ConvertixError):
            with pool.client() as proxy:
                assert proxy is a
                proxy.call()
    assert not a.abandoned


def test_no_consumer_drops_only_the_proxy_that_met_it(pool):
    with pool.client() as a, pool.client() as b:
        pass
    a.fails = UnknownService("converter")   # put back last: used next
    with pytest.raises(errors.ConvertixError):
        with pool.client() as proxy:
            proxy.call()
    assert a.abandoned and not b.abandoned


@pytest.mark.parametrize("error", [NotAllowed("vhost / is down"), ConnectionError("refused"),
                                   RuntimeError("a bug")])
def test_a_failed_start_gives_its_slot_back(pool, error):
    FakeProxy.starts_failing = error
    for _ in range(pool.size + 2):       # more failures than the pool has slots
        with pytest.raises((errors.ConvertixError, RuntimeError)) as raised:
            with pool.client():
                pass
        if not isinstance(error, RuntimeError):
            assert raised.value.code == "BACKEND_UNAVAILABLE"
    FakeProxy.starts_failing = None
    with pool.client() as proxy:          # a slot is there at once
        assert proxy in FakeProxy.made


def test_a_broker_refusal_during_a_call_is_a_503_and_drops_the_proxy(pool):
    with pool.client() as a:
        pass
    a.fails = NotAllowed("connection forced")
    with pytest.raises(errors.ConvertixError) as raised:
        with pool.client() as proxy:
            proxy.call()
    assert raised.value.code == "BACKEND_UNAVAILABLE" and a.abandoned


class StuckLookup:
    """The broker's name lookup cut by the call's deadline."""
    def pick(self):
        raise rpc.CallDeadline("no answer within 3 s")

    def failed(self, address):
        pass


def test_a_lookup_cut_by_the_deadline_gives_its_slot_back(pool):
    pool._members = StuckLookup()
    for _ in range(pool.size + 2):       # more than the pool has slots
        with pytest.raises(errors.ConvertixError) as raised:
            with pool.client():
                pass
        assert raised.value.code == "BACKEND_UNAVAILABLE"
    pool._members = rpc.Members("127.0.0.1", 5672)
    with pool.client() as proxy:          # a slot is there at once
        assert proxy in FakeProxy.made
