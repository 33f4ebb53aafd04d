"""A standalone Nameko RPC proxy that gives up at once when its broker member goes.

Nameko's own (nameko.standalone.rpc) does two things that cost a client the
whole RPC timeout when a RabbitMQ cluster member goes:
- its reply queue lives on the member it is connected to; when that
  connection breaks during a call, it reconnects and waits again for a reply
  that can never come (the queue went with the member);
- its timeout is a socket read timeout, started again by any message read,
  and a publish waits for the broker's confirm without any limit;
- a member whose node vanished resets nothing: a connection that only
  waits to read notices nothing for minutes.
Here a broken connection fails the call at once (ConnectionError: the pool
answers 503 and drops the proxy), the waiting connection is probed every
PROBE_S (a vanished peer breaks it within about two seconds), the wait has
one deadline, and a publish waits for its confirm at most the call's timeout. The next proxy connects
to `rabbitmq` again, which resolves to the members still running.

A request is published on a connection of the proxy's own, without retries,
not through kombu's producer pool as nameko's proxies do: that pool is
shared by the whole process (ten producers), a producer is taken from it
with a wait that has no limit, and nameko publishes with reconnecting
retries (each connect to a member that vanished waits for its timeout). A
few calls held there on a member that went held every later call of the
process behind them. Here a broken publish connection fails the call, and
the pool drops the whole proxy (both connections).
"""
import socket
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Connection, Producer, Queue
from kombu.exceptions import ChannelError
from nameko import serialization
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
)
from nameko.exceptions import RpcTimeout
from nameko.rpc import (
    RPC_REPLY_QUEUE_TEMPLATE,
    RPC_REPLY_QUEUE_TTL,
    MethodProxy,
    ServiceProxy,
    get_rpc_exchange,
)
from nameko.standalone.rpc import (
    ClusterProxy,
    ClusterRpcProxy,
    PollingQueueConsumer,
    SingleThreadedReplyListener,
)

# while waiting for a reply, the connection is probed this often
PROBE_S = 1.0
# a member that answers at all accepts a TCP connection in milliseconds; one
# whose node went never does (kombu's default waits 5 s, then tries again)
BROKER_CONNECT_WAIT_S = 2.0


def publish_options(timeout_s):
    """Each RPC request's publish: its confirm awaited at most the call's timeout."""
    return {"confirm_timeout": timeout_s}


def remaining_s(deadline, now):
    """Seconds left to read a reply; 0 when the deadline has passed (never negative)."""
    return max(0.0, deadline - now)


def with_host(amqp_uri, host):
    """The URI with its host replaced by `host` (an address), its user and port kept."""
    parts = urlsplit(amqp_uri)
    userinfo, _, _ = parts.netloc.rpartition("@")
    address = f"[{host}]" if ":" in host else host
    netloc = f"{userinfo}@{address}" if userinfo else address
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class BrokerLost(ConnectionError):
    """The connection holding this call's reply queue broke: no reply will come."""


class _FailFastConsumer(PollingQueueConsumer):
    def register_provider(self, provider):
        """nameko's, with a short connect timeout."""
        self.provider = provider
        config = provider.container.config
        self.serializer, self.accept = serialization.setup(config)
        self.connection = Connection(config[AMQP_URI_CONFIG_KEY],
                                     ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                     login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
                                     connect_timeout=BROKER_CONNECT_WAIT_S)
        self.queue = provider.queue
        self._setup_consumer()
        self.stopped = False

    def get_message(self, correlation_id):
        deadline = time.monotonic() + self.timeout
        try:
            while correlation_id not in self.replies:
                left = remaining_s(deadline, time.monotonic())
                if left <= 0:
                    raise socket.timeout()
                try:
                    self.consumer.connection.drain_events(timeout=min(left, PROBE_S))
                except socket.timeout:
                    self._probe()
            body, message = self.replies.pop(correlation_id)
            self.provider.handle_message(body, message)
        except socket.timeout:   # before OSError: it is one
            self._fail(correlation_id, RpcTimeout(self.timeout))
        except (OSError, AmqpConnectionError) as exc:
            lost = BrokerLost(f"the broker connection broke during the call ({exc!r})")
            lost.__cause__ = exc
            self._fail(correlation_id, lost)

    def on_message(self, body, message):
        if message.properties.get("correlation_id") not in self.provider._reply_events:
            message.ack()   # a reply that came after its call gave up: dropped
            return
        super().on_message(body, message)

    def _probe(self):
        """A heartbeat frame on the waiting connection: to a member whose
        node vanished it is never acknowledged, and py-amqp's sockets have
        TCP_USER_TIMEOUT (1 s), so the kernel breaks the connection and the
        next read fails (an idle connection would wait for minutes)."""
        self.consumer.connection.connection.send_heartbeat()

    def _fail(self, correlation_id, exc):
        # the proxy is dropped by its pool after this: no reconnecting here
        event = self.provider._reply_events.pop(correlation_id, None)
        if event is not None:
            event.send_exception(exc)

    def abandon(self):
        """Close the connection without the broker's handshake (its peer may be gone)."""
        self.stopped = True
        self.connection.collect()


class _FailFastListener(SingleThreadedReplyListener):
    def __init__(self, timeout=None):
        super().__init__(timeout=timeout)
        self.queue_consumer = _FailFastConsumer(timeout=timeout)

    def setup(self):
        """nameko's reply queue, but transient and the connection's own
        (nameko's is durable: its declaration went unanswered for over a
        minute while a cluster member's node was down)."""
        reply_queue_uuid = uuid.uuid4()
        self.routing_key = str(reply_queue_uuid)
        self.queue = Queue(
            RPC_REPLY_QUEUE_TEMPLATE.format(self.container.service_name, reply_queue_uuid),
            exchange=get_rpc_exchange(self.container.config), routing_key=self.routing_key,
            durable=False, auto_delete=True, exclusive=True,
            queue_arguments={"x-expires": RPC_REPLY_QUEUE_TTL})
        self.queue_consumer.register_provider(self)


class OwnConnectionPublisher:
    """Publishes a proxy's requests on a connection of its own, with publisher
    confirms (an unroutable request: UnknownService, as nameko's) and no retries."""

    def __init__(self, amqp_uri, serializer, options):
        self.amqp_uri = amqp_uri
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True},
                                     connect_timeout=BROKER_CONNECT_WAIT_S)
        self.serializer = serializer
        self.options = options
        self._producer = None

    def pin(self, host):
        """Publish to the member at `host` (the one holding the reply queue):
        a proxy then depends on one member, not two."""
        self.connection = Connection(with_host(self.amqp_uri, host),
                                     transport_options={"confirm_publish": True},
                                     connect_timeout=BROKER_CONNECT_WAIT_S)

    def publish(self, payload, extra_headers=None, **kwargs):
        if self._producer is None:
            self._producer = Producer(self.connection.channel(), serializer=self.serializer)
        try:
            self._producer.publish(payload, headers=extra_headers or {},
                                   delivery_mode=PERSISTENT, retry=False,
                                   **self.options, **kwargs)
        except ChannelError as exc:
            if "NO_ROUTE" in str(exc):
                raise UndeliverableMessage() from exc
            raise

    def abandon(self):
        self.connection.collect()

    def close(self):
        self.connection.release()


class _MethodProxy(MethodProxy):
    def __init__(self, worker_ctx, service_name, method_name, reply_listener, publisher):
        super().__init__(worker_ctx, service_name, method_name, reply_listener)
        self.publisher = publisher


class _ServiceProxy(ServiceProxy):
    def __init__(self, worker_ctx, service_name, reply_listener, publisher):
        super().__init__(worker_ctx, service_name, reply_listener)
        self.publisher = publisher

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _MethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                            self.publisher)


class _OwnPublisherClusterProxy(ClusterProxy):
    """ClusterProxy whose service proxies publish with `publisher`."""

    def __init__(self, worker_ctx, reply_listener, publisher):
        super().__init__(worker_ctx, reply_listener)
        self._publisher = publisher

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._proxies:
            self._proxies[name] = _ServiceProxy(
                self._worker_ctx, name, self._reply_listener, self._publisher)
        return self._proxies[name]


class FailFastRpcProxy(ClusterRpcProxy):
    def __init__(self, config, timeout):
        super().__init__(config, timeout=timeout, reply_listener_cls=_FailFastListener)
        self._publisher = OwnConnectionPublisher(
            config["AMQP_URI"], config.get("serializer", "json"), publish_options(timeout))
        self._proxy = _OwnPublisherClusterProxy(self._worker_ctx, self._reply_listener,
                                                self._publisher)

    def start(self):
        proxy = super().start()
        peer = self.peer()
        if peer is not None:
            self._publisher.pin(peer)
        return proxy

    def stop(self):
        try:
            super().stop()
        finally:
            self._publisher.close()

    def peer(self):
        """The address of the broker member its reply queue is on; None if unknown."""
        try:
            sock = self._reply_listener.queue_consumer.connection.connection.sock
            return sock.getpeername()[0]
        except (AttributeError, OSError):
            return None

    def abandon(self):
        try:
            consumer = self._reply_listener.queue_consumer
            if getattr(consumer, "connection", None) is not None:
                consumer.abandon()
        finally:
            self._publisher.abandon()
