"""A service lives through a broker outage and is back within seconds of it.

Every RPC, event and task consumer of a service runs in nameko 2.14's
QueueConsumer. `install()` mends three things nameko does when RabbitMQ goes
away:

1. **An ack on a lost connection killed the service.** A worker that ends
   while the broker is gone acks through a socket that is already closed.
   Nameko catches amqp's ConnectionError there, but not the socket's own
   (ConnectionResetError, BrokenPipeError), which escaped into the worker
   thread; the container treats that as fatal and stopped the whole service
   (seen: the jobs service died in a broker restart under load, and every
   call to it timed out after). Now both are ignored, as nameko meant: the
   broker requeues what was not acked, and every handler is idempotent.
2. **A reply that could not be sent killed the service too.** An RPC whose
   worker ends while the broker is gone publishes its reply, retries three
   times and raises; that also ended the container. Now the request is put
   back (or, on a dead connection, the broker puts it back) and runs again
   once the broker is there: its caller has timed out with a 503 meanwhile,
   and what it asked for happens at least once, as any delivery here.
3. **The reconnect wait grew to 30 s.** kombu's ConsumerMixin waits 2 s, then
   4, 6, 8 ... up to 30 s between attempts, so the longer an outage, the
   longer a service stayed away after RabbitMQ was back while the gateway's
   calls waited in its queues (a 26 s outage: the first request after it
   took 9.8 s; with the bound, 0.6 s). Nameko has no setting for it, so the
   connect step is the same loop with a short, bounded wait; a refused
   connect costs the broker nothing.
"""
import contextlib
import logging

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer
from nameko.rpc import RpcConsumer

log = logging.getLogger(__name__)

INTERVAL_START_S = 1.0
INTERVAL_STEP_S = 1.0
INTERVAL_MAX_S = 3.0

# What a connection lost under us raises: kombu's connection_errors for pyamqp.
CONNECTION_LOST = (AmqpConnectionError, OSError)
# What a publish raises once its retries found no broker (kombu wraps them).
PUBLISH_FAILED = CONNECTION_LOST + (OperationalError,)

_send_reply_and_ack = RpcConsumer.handle_result


@contextlib.contextmanager
def establish_connection(consumer):
    """kombu's ConsumerMixin.establish_connection, with our intervals."""
    with consumer.create_connection() as conn:
        conn.ensure_connection(consumer.on_connection_error, consumer.connect_max_retries,
                               interval_start=INTERVAL_START_S, interval_step=INTERVAL_STEP_S,
                               interval_max=INTERVAL_MAX_S)
        yield conn


def settle(message, how):
    """message.ack() or message.requeue(), unless its connection is gone:
    then the broker has it back already."""
    if not message.channel.connection:
        return
    try:
        getattr(message, how)()
    except CONNECTION_LOST as exc:
        log.info("could not %s delivery %s, the connection is gone (%s): "
                 "the broker delivers it again", how, message.delivery_tag, exc)


def ack_message(consumer, message):
    settle(message, "ack")


def requeue_message(consumer, message):
    settle(message, "requeue")


def handle_rpc_result(rpc_consumer, message, result, exc_info):
    """RpcConsumer.handle_result (reply, then ack), but a reply the broker
    could not take puts the request back instead of ending the service."""
    try:
        return _send_reply_and_ack(rpc_consumer, message, result, exc_info)
    except PUBLISH_FAILED as exc:
        log.warning("could not send the reply to %s, the broker is gone (%s): "
                    "the request runs again", message.delivery_info.get("routing_key"), exc)
        rpc_consumer.requeue_message(message)
        return result, exc_info


def install():
    QueueConsumer.establish_connection = establish_connection
    QueueConsumer.ack_message = ack_message
    QueueConsumer.requeue_message = requeue_message
    RpcConsumer.handle_result = handle_rpc_result
