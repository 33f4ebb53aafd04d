"""Services are back within seconds of the broker, however long it was away.

Every RPC, event and task consumer of a service runs in nameko 2.14's
QueueConsumer, which reconnects through kombu's ConsumerMixin: 2 s, then 4,
6, 8 ... up to 30 s between attempts. So the longer an outage, the longer a
service stayed away after RabbitMQ was back, while the gateway's calls waited
in its queues (a 26 s outage here: the first request after it took 9.8 s).
Nameko has no setting for this, so `install()` gives QueueConsumer the same
connect step with a short, bounded wait between attempts; a refused connect
costs the broker nothing.
"""
import contextlib

from nameko.messaging import QueueConsumer

INTERVAL_START_S = 1.0
INTERVAL_STEP_S = 1.0
INTERVAL_MAX_S = 3.0


@contextlib.contextmanager
def establish_connection(consumer):
    """kombu's ConsumerMixin.establish_connection, with our intervals."""
    with consumer.create_connection() as conn:
        conn.ensure_connection(consumer.on_connection_error, consumer.connect_max_retries,
                               interval_start=INTERVAL_START_S, interval_step=INTERVAL_STEP_S,
                               interval_max=INTERVAL_MAX_S)
        yield conn


def install():
    QueueConsumer.establish_connection = establish_connection
