"""gateway/rpc.py's pool: a proxy whose start fails gives its slot back,
whatever it raised, and the broker's own refusals are a 503 like a broker
that is not there. The proxies are stand-ins: this is the pool's
bookkeeping (tests/integration cover it against RabbitMQ)."""
import pytest
from amqp.exceptions import NotAllowed
from flask import Flask

from convertix import errors
from gateway import rpc


class FakeProxy:
    """Stands in for a started proxy; its start raises `starts_failing` if set."""
    made = []
    starts_failing = None

    def __init__(self, config, timeout):
        if FakeProxy.starts_failing is not None:
            raise FakeProxy.starts_failing
        self.fails = None
        self.closed = False
        self.peer = None
        self.proxy = self
        FakeProxy.made.append(self)

    def set_context(self, data):
        pass

    def call(self):
        if self.fails is not None:
            raise self.fails

    def close(self):
        self.closed = True

    def abandon(self):  # a dropped proxy is closed without the broker's handshake
        self.closed = True


@pytest.fixture
def pool(monkeypatch):
    monkeypatch.setattr(rpc, "_StartedProxy", FakeProxy)
    FakeProxy.made, FakeProxy.starts_failing = [], None
    app = Flask(__name__)
    app.config.update(AMQP_URI="amqp://x", RPC_TIMEOUT_S=5, RPC_POOL_SIZE=4)
    return rpc.RpcPool(app)


@pytest.mark.parametrize("error", [NotAllowed("vhost / is down"), ConnectionError("refused"),
                                   RuntimeError("a bug")])
def test_a_failed_start_gives_its_slot_back(pool, error):
    FakeProxy.starts_failing = error
    for _ in range(pool.size + 2):  # more failed starts than the pool has slots
        with pytest.raises((errors.ConvertixError, RuntimeError)) as raised:
            with pool.client():
                pass
        if not isinstance(error, RuntimeError):
            assert raised.value.code == "BACKEND_UNAVAILABLE"
    FakeProxy.starts_failing = None
    with pool.client() as proxy:  # a slot is free at once
        assert proxy in FakeProxy.made


def test_a_broker_refusal_during_a_call_is_a_503_and_drops_the_proxy(pool):
    with pool.client() as first:
        pass
    first.fails = NotAllowed("connection forced")
    with pytest.raises(errors.ConvertixError) as raised:
        with pool.client() as proxy:
            proxy.call()
    assert raised.value.code == "BACKEND_UNAVAILABLE" and first.closed
