"""A service lives through its broker connection dying under a worker
(infra/nameko/outage.py), on real RabbitMQ.

The service's connections run through a TCP relay the test can cut with a
reset, as a broker that stops does, and close to new connections. The
handler cuts it itself, so what it sends next (its ack, its reply) is the
next thing written to the dead socket: no race with the consumer noticing.
"""
import socket
import struct
from urllib.parse import urlsplit, urlunsplit

import eventlet
import pytest
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.standalone.events import event_dispatcher

import infra.nameko  # noqa: F401  (installs infra/nameko/outage.py, as every service does)
from tests.helpers import wait_until


class Relay:
    """Forwards TCP connections to `upstream`; `cut()` resets the open ones."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = 0
        self.open = []
        self.accept_again()

    def accept_again(self):
        self.listener = eventlet.listen(("127.0.0.1", self.port))  # SO_REUSEADDR
        self.port = self.listener.getsockname()[1]
        self.accepting = eventlet.spawn(self._accept)

    def refuse(self):
        """Reset what is open and refuse new connections: the broker is gone."""
        self.accepting.kill()
        self.listener.close()
        self.cut()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            server = eventlet.connect(self.upstream)
            self.open.append((client, server))
            eventlet.spawn(self._pump, client, server)
            eventlet.spawn(self._pump, server, client)

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except (OSError, EOFError):  # eventlet's word for "closed under this recv"
            pass  # cut

    def cut(self):
        for client, server in self.open:
            # linger 0: close sends a reset, as the peer of a stopped broker sees
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            server.close()
        self.open = []

    def close(self):
        self.refuse()


def through(relay, amqp_uri):
    parts = urlsplit(amqp_uri)
    netloc = f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{relay.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def relay(rabbit_config):
    """A relay to the test's broker, closed after the test."""
    upstream = urlsplit(rabbit_config["AMQP_URI"])
    opened = Relay((upstream.hostname or "localhost", upstream.port or 5672))
    yield opened
    opened.close()


def test_an_ack_on_a_connection_reset_under_the_worker_does_not_stop_the_service(
        relay, container_factory, rabbit_config):
    handled = []

    class Listener:
        name = "listener"

        @event_handler("source", "ping")
        def ping(self, payload):
            handled.append(payload)
            if len(handled) == 1:
                relay.cut()  # the connection dies while this worker holds the message

    container = container_factory(Listener, dict(rabbit_config,
                                                 AMQP_URI=through(relay, rabbit_config["AMQP_URI"])))
    container.start()
    event_dispatcher(rabbit_config)("source", "ping", "one")

    # unacked, so the broker delivers it again once the service is back
    wait_until(lambda: len(handled) >= 2, timeout=30, message="the message again")
    assert handled == ["one", "one"]
    assert not container._died.ready(), "the container stopped"


def test_a_reply_with_no_broker_to_take_it_runs_the_request_again(
        relay, container_factory, rabbit_config, caplog):
    calls = []

    class Answerer:
        name = "answerer"

        @rpc
        def double(self, number):
            calls.append(number)
            if len(calls) == 1:
                relay.refuse()  # the broker goes while this worker holds the request
            return 2 * number

    container = container_factory(Answerer, dict(rabbit_config,
                                                 AMQP_URI=through(relay, rabbit_config["AMQP_URI"])))
    container.start()
    with ClusterRpcProxy(rabbit_config, timeout=60) as caller:  # straight to the broker
        reply = caller.answerer.double.call_async(21)

        # the reply's publish runs out of retries while the relay refuses
        wait_until(lambda: "could not send the reply" in caplog.text
                   or "thread exited with error" in caplog.text,
                   timeout=30, message="the reply to fail")
        relay.accept_again()  # the broker is back
        if "thread exited with error" in caplog.text:
            container.kill()  # now, while the broker is reachable: a dying container waits for it
            pytest.fail("the container stopped")

        assert reply.result() == 42  # from the request's second run
    assert calls == [21, 21]
    assert not container._died.ready()
