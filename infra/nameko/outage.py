"""A service lives through a broker outage and is back within seconds of it.

Every RPC, event and task consumer of a service runs in nameko 2.14's
QueueConsumer. `install()` mends two things it does when RabbitMQ goes away:

1. **An ack on a lost connection killed the service.** A worker that ends
   while the broker is gone acks through a socket that is already closed.
   Nameko catches amqp's ConnectionError there, but not the socket's own
   (ConnectionResetError, BrokenPipeError), which escaped into the worker
   thread; the container treats that as fatal and stopped the whole service
   (seen: the jobs service died in a broker restart under load, and every
   call to it timed out after). Now both are ignored, as nameko meant: the
   broker requeues what was not acked, and every handler is idempotent.
2. **The reconnect wait grew to 30 s.** kombu's ConsumerMixin waits 2 s, then
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
from nameko.messaging import QueueConsumer

log = logging.getLogger(__name__)

INTERVAL_START_S = 1.0
INTERVAL_STEP_S = 1.0
INTERVAL_MAX_S = 3.0

# What a connection lost under us raises: kombu's connection_errors for pyamqp.
CONNECTION_LOST = (AmqpConnectionError, OSError)


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


def install():
    QueueConsumer.establish_connection = establish_connection
    QueueConsumer.ack_message = ack_message
    QueueConsumer.requeue_message = requeue_message
