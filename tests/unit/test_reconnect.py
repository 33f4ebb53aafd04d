"""A service's consumers retry a lost broker on a short, bounded backoff
(infra/nameko/reconnect.py), not kombu's 2, 4, 6 ... 30 s."""
import socket
from types import SimpleNamespace

import pytest
from kombu.exceptions import OperationalError
from nameko.messaging import QueueConsumer

from infra.nameko import reconnect
from infra.nameko.queues import DrainingQueueConsumer


def refused_uri():
    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"pyamqp://guest:guest@127.0.0.1:{port}//"


class Recording(QueueConsumer):
    connect_max_retries = 4

    def __init__(self, uri):
        super().__init__()
        self.container = SimpleNamespace(config={"AMQP_URI": uri})
        self.waits = []

    def on_connection_error(self, exc, interval):
        self.waits.append(interval)


def test_every_service_consumer_connects_with_the_bounded_backoff():
    assert QueueConsumer.establish_connection is reconnect.establish_connection
    assert DrainingQueueConsumer.establish_connection is reconnect.establish_connection


def test_the_wait_between_attempts_grows_then_stops_at_the_bound(monkeypatch):
    # the same shape, a hundred times shorter
    monkeypatch.setattr(reconnect, "INTERVAL_START_S", 0.01)
    monkeypatch.setattr(reconnect, "INTERVAL_STEP_S", 0.01)
    monkeypatch.setattr(reconnect, "INTERVAL_MAX_S", 0.03)
    consumer = Recording(refused_uri())
    with pytest.raises(OperationalError):
        with consumer.establish_connection():
            pass
    assert consumer.waits == pytest.approx([0.01, 0.02, 0.03, 0.03])


def test_the_bound_is_seconds_not_tens_of_seconds():
    assert reconnect.INTERVAL_START_S <= reconnect.INTERVAL_MAX_S <= 5
