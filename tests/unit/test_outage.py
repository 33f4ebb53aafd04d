"""How a service's consumers meet a broker outage (infra/nameko/outage.py):
a bounded reconnect wait, and no crash for an ack or requeue on a dead
connection. tests/integration/test_broker_outage.py does it on RabbitMQ."""
import socket
from types import SimpleNamespace

import pytest
from amqp.exceptions import RecoverableConnectionError
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer

from infra.nameko import outage
from infra.nameko.queues import DrainingQueueConsumer


def refused_uri():
    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"pyamqp://guest:guest@127.0.0.1:{port}//"


class Recording(QueueConsumer):
    connect_max_retries = 4

    def __init__(self, uri="pyamqp://guest:guest@127.0.0.1:1//"):
        super().__init__()
        self.container = SimpleNamespace(config={"AMQP_URI": uri})
        self.waits = []

    def on_connection_error(self, exc, interval):
        self.waits.append(interval)


class Delivery:
    """A received message whose ack/requeue meets `error` (None: works)."""

    def __init__(self, error=None, connected=True):
        self.channel = SimpleNamespace(connection=object() if connected else None)
        self.delivery_tag = 7
        self.error = error
        self.settled = []

    def _settle(self, how):
        self.settled.append(how)
        if self.error is not None:
            raise self.error

    def ack(self):
        self._settle("ack")

    def requeue(self):
        self._settle("requeue")


def test_every_service_consumer_has_the_mends():
    for consumer in (QueueConsumer, DrainingQueueConsumer):
        assert consumer.establish_connection is outage.establish_connection
    assert QueueConsumer.ack_message is outage.ack_message
    assert QueueConsumer.requeue_message is outage.requeue_message


def test_the_wait_between_attempts_grows_then_stops_at_the_bound(monkeypatch):
    # the same shape, a hundred times shorter
    monkeypatch.setattr(outage, "INTERVAL_START_S", 0.01)
    monkeypatch.setattr(outage, "INTERVAL_STEP_S", 0.01)
    monkeypatch.setattr(outage, "INTERVAL_MAX_S", 0.03)
    consumer = Recording(refused_uri())
    with pytest.raises(OperationalError):
        with consumer.establish_connection():
            pass
    assert consumer.waits == pytest.approx([0.01, 0.02, 0.03, 0.03])


def test_the_bound_is_seconds_not_tens_of_seconds():
    assert outage.INTERVAL_START_S <= outage.INTERVAL_MAX_S <= 5


@pytest.mark.parametrize("how", ["ack", "requeue"])
@pytest.mark.parametrize("error", [
    ConnectionResetError(104, "Connection reset by peer"),
    BrokenPipeError(32, "Broken pipe"),
    RecoverableConnectionError("connection already closed"),
], ids=["reset", "broken-pipe", "amqp"])
def test_a_dead_connection_under_ack_or_requeue_is_not_an_error(how, error):
    message = Delivery(error)
    getattr(Recording(), f"{how}_message")(message)
    assert message.settled == [how]  # tried, and the broker will deliver it again


@pytest.mark.parametrize("how", ["ack", "requeue"])
def test_a_live_connection_settles_and_other_errors_still_raise(how):
    message = Delivery()
    getattr(Recording(), f"{how}_message")(message)
    assert message.settled == [how]

    with pytest.raises(ValueError):
        getattr(Recording(), f"{how}_message")(Delivery(ValueError("not a connection error")))


@pytest.mark.parametrize("how", ["ack", "requeue"])
def test_a_closed_channel_is_not_settled(how):
    message = Delivery(connected=False)
    getattr(Recording(), f"{how}_message")(message)
    assert message.settled == []
