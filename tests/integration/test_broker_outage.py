"""A service lives through its broker connection dying under a worker
(infra/nameko/outage.py), on real RabbitMQ.

The connection runs through a TCP relay the test can cut with a reset, as a
broker that stops does. The handler cuts it itself, so its ack is the next
thing written to the dead socket: no race with the consumer noticing first.
"""
import socket
import struct
from urllib.parse import urlsplit, urlunsplit

import eventlet
from nameko.events import event_handler
from nameko.standalone.events import event_dispatcher

import infra.nameko  # noqa: F401  (installs infra/nameko/outage.py, as every service does)
from tests.helpers import wait_until


class Relay:
    """Forwards TCP connections to `upstream`; `cut()` resets the open ones."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = []
        self.accepting = eventlet.spawn(self._accept)

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            server = eventlet.connect(self.upstream)
            pumps = [eventlet.spawn(self._pump, client, server),
                     eventlet.spawn(self._pump, server, client)]
            self.open.append((client, server, pumps))

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except (OSError, EOFError):  # eventlet's word for "closed under this recv"
            pass  # cut

    def cut(self):
        for client, server, pumps in self.open:
            # killed first: a pump left waiting on a socket closed under it
            # keeps the hub's reader for that fd number, which a later test's
            # file may get ("second simultaneous read")
            for pump in pumps:
                pump.kill()
            # linger 0: close sends a reset, as the peer of a stopped broker sees
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            server.close()
        self.open = []

    def close(self):
        self.accepting.kill()
        self.cut()
        self.listener.close()


def through(relay, amqp_uri):
    parts = urlsplit(amqp_uri)
    netloc = f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{relay.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def test_an_ack_on_a_connection_reset_under_the_worker_does_not_stop_the_service(
        container_factory, rabbit_config):
    upstream = urlsplit(rabbit_config["AMQP_URI"])
    relay = Relay((upstream.hostname or "localhost", upstream.port or 5672))
    handled = []

    class Listener:
        name = "listener"

        @event_handler("source", "ping")
        def ping(self, payload):
            handled.append(payload)
            if len(handled) == 1:
                relay.cut()  # the connection dies while this worker holds the message

    try:
        container = container_factory(Listener, dict(rabbit_config,
                                                     AMQP_URI=through(relay, rabbit_config["AMQP_URI"])))
        container.start()
        event_dispatcher(rabbit_config)("source", "ping", "one")

        # unacked, so the broker delivers it again once the service is back
        wait_until(lambda: len(handled) >= 2, timeout=30, message="the message again")
        assert handled == ["one", "one"]
        assert not container._died.ready(), "the container stopped"
    finally:
        relay.close()
