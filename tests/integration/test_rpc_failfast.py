"""The gateway's RPC proxy (gateway/rpc_failfast.py) fails a call at once
when its broker connection breaks, on real RabbitMQ.

The proxy's connections run through a TCP relay the test resets, as the
clients of a broker member that goes see it; the service it calls is
connected directly, and holds the call until the test ends. Nameko's own
proxy reconnects and waits out its whole timeout for a reply that went
with the reply queue.
"""
import time
from urllib.parse import urlsplit

import eventlet
from eventlet.event import Event
from nameko.exceptions import RpcTimeout
from nameko.rpc import rpc

from gateway.rpc_failfast import BrokerLost, FailFastRpcProxy
from tests.helpers import wait_until
from tests.integration.test_broker_outage import Relay, through

TIMEOUT_S = 30


def _slow_service(started, release):
    class Slow:
        name = "slow"

        @rpc
        def hold(self):
            started.append(True)
            release.wait()   # until the test ends
            return "late"
    return Slow


def test_a_call_whose_broker_connection_breaks_fails_at_once(container_factory, rabbit_config):
    upstream = urlsplit(rabbit_config["AMQP_URI"])
    relay = Relay((upstream.hostname or "localhost", upstream.port or 5672))
    started, release = [], Event()
    container = container_factory(_slow_service(started, release), rabbit_config)
    container.start()
    proxy = FailFastRpcProxy({"AMQP_URI": through(relay, rabbit_config["AMQP_URI"])}, TIMEOUT_S)
    try:
        call = eventlet.spawn(proxy.start().slow.hold)
        wait_until(lambda: started, timeout=20, message="the call to reach the service")
        cut_at = time.monotonic()
        relay.cut()
        try:
            call.wait()
        except BrokerLost:
            pass
        else:
            raise AssertionError("the call returned")
        assert time.monotonic() - cut_at < 5, "waited for a reply that cannot come"
    finally:
        release.send()
        proxy.abandon()
        relay.close()


def test_a_call_unanswered_times_out_at_its_deadline(container_factory, rabbit_config):
    started, release = [], Event()
    container = container_factory(_slow_service(started, release), rabbit_config)
    container.start()
    proxy = FailFastRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"]}, 1.0)
    begun = time.monotonic()
    try:
        proxy.start().slow.hold()
    except RpcTimeout:
        pass
    else:
        raise AssertionError("the call returned")
    finally:
        release.send()
        proxy.abandon()
    assert 1.0 <= time.monotonic() - begun < 5


class Mute:
    """A broker member that accepts connections and never answers: what a
    client meets where a member's cluster peer just went."""

    def __init__(self):
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.accepting = eventlet.spawn(self._accept)

    def _accept(self):
        while True:
            self.held.append(self.listener.accept()[0])

    def close(self):
        self.accepting.kill()
        for sock in self.held:
            sock.close()
        self.listener.close()


def test_a_call_to_a_member_that_never_answers_ends_at_the_pools_timeout(rabbit_config):
    from flask import Flask

    from convertix.errors import ConvertixError
    from gateway.rpc import RpcPool

    mute = Mute()
    parts = urlsplit(rabbit_config["AMQP_URI"])
    uri = parts._replace(netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{mute.port}").geturl()
    app = Flask(__name__)
    app.config.update(AMQP_URI=uri, RPC_TIMEOUT_S=2, RPC_POOL_SIZE=2)
    pool = RpcPool(app)
    begun = time.monotonic()
    try:
        pool.call("jobs", "ping")
    except ConvertixError as exc:
        assert exc.code == "BACKEND_UNAVAILABLE"
    else:
        raise AssertionError("the call returned")
    finally:
        mute.close()
    # kombu's own connect timeout and retry would take 12 s and more
    assert time.monotonic() - begun < 2 + 1.5
