"""The conversion queue and its dead-letter queue, built from config.

The conversion queue is a quorum queue with a delivery limit: RabbitMQ itself
counts how often each message was delivered (a requeue after an error, or a
worker that died holding it) and, past `CONVERTER.max_attempts`, moves it to
the dead-letter exchange instead of delivering it again. That bound holds even
for an image that kills its worker, which no application-side counter can see.

Its arguments depend on config, and nameko builds entrypoints at import time,
so the consumer and publisher below build the queue in `setup()`.
"""
from kombu import Exchange, Queue
from kombu.common import maybe_declare
from nameko.amqp import get_connection
from nameko.messaging import Consumer, Publisher, QueueConsumer

from convertix.contract import (
    CONVERT_EXCHANGE,
    CONVERT_QUEUE,
    CONVERT_ROUTING_KEY,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
)
from infra.config.schema import CONVERTER, read
from infra.logs import context as log_context

convert_exchange = Exchange(CONVERT_EXCHANGE, type="direct", durable=True)
dead_letter_exchange = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)
dead_letter_queue = Queue(
    DEAD_LETTER_QUEUE, exchange=dead_letter_exchange,
    routing_key=CONVERT_ROUTING_KEY, durable=True)


def max_attempts(config):
    return read(config, CONVERTER)["max_attempts"]


def convert_queue(config):
    return Queue(
        CONVERT_QUEUE, exchange=convert_exchange, routing_key=CONVERT_ROUTING_KEY,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            # delivered once, then redelivered at most limit times
            "x-delivery-limit": max_attempts(config) - 1,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": CONVERT_ROUTING_KEY,
        })


def declare_all(config):
    """Declare exchanges and queues (idempotent)."""
    with get_connection(config["AMQP_URI"]) as conn:
        channel = conn.channel()
        for entity in (convert_exchange, dead_letter_exchange, dead_letter_queue,
                       convert_queue(config)):
            maybe_declare(entity, channel)


class DrainingQueueConsumer(QueueConsumer):
    """Nameko 2.14's QueueConsumer, but a graceful stop keeps the connection
    open until the messages in flight are acknowledged.

    Nameko's own closes its connection as soon as the last consumer is
    cancelled, which happens when the entrypoints stop, before the running
    workers finish: RabbitMQ then requeues every task in flight, another
    replica converts it again, and the late ack goes nowhere. Here the
    consumer is still cancelled at once (no new task arrives), and the
    connection closes only once nothing is in flight. Every message ends in
    ack_message or requeue_message, so the count cannot drift.
    """

    def __init__(self):
        super().__init__()
        self.in_flight = 0

    def handle_message(self, provider, body, message):
        self.in_flight += 1
        super().handle_message(provider, body, message)

    def ack_message(self, message):
        try:
            super().ack_message(message)
        finally:
            self.in_flight -= 1

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        finally:
            self.in_flight -= 1

    def on_iteration(self):
        self._cancel_consumers_if_requested()
        if not self._consumers and self.in_flight <= 0:
            self.should_stop = True


class TaskConsumer(Consumer):
    """`@consume` on the conversion queue, built from config at setup."""

    queue_consumer = DrainingQueueConsumer()

    def __init__(self, requeue_on_error=True, **kwargs):
        super().__init__(None, requeue_on_error=requeue_on_error, **kwargs)

    def setup(self):
        declare_all(self.container.config)
        self.queue = convert_queue(self.container.config)
        widen(self.container, tasks_ahead(self.container.config))
        super().setup()


def tasks_ahead(config):
    return read(config, CONVERTER)["tasks_ahead_per_sandbox"]


def widen(container, ahead):
    """Hold `ahead` more tasks per sandbox than there are sandboxes
    (CONVERTER.workers): the queue's prefetch and the worker pool both follow
    container.max_workers, so both grow; the engine's sandboxes stay
    CONVERTER.workers. The extra workers wait for a sandbox with
    their input read, so a sandbox that ends a task starts the next at
    once rather than after a round trip to the jobs service and back. Done
    once, at setup, before anything consumes."""
    sandboxes = read(container.config, CONVERTER)["workers"]
    container.max_workers = sandboxes * (1 + ahead)
    # nameko sizes its pool from max_workers in the container's constructor
    container._worker_pool.resize(container.max_workers)


class TaskPublisher(Publisher):
    """Publishes persistent messages to the conversion queue."""

    def __init__(self, **options):
        # confirms (nameko default) + mandatory: a task that no queue took raises.
        options.setdefault("mandatory", True)
        super().__init__(exchange=convert_exchange, **options)

    def setup(self):
        declare_all(self.container.config)
        self.declare.append(convert_queue(self.container.config))
        super().setup()

    def get_dependency(self, worker_ctx):
        def publish_task(payload):
            # Headers made at publish time, not at injection: they carry the
            # worker's context data as it is now (trace and user id, and what
            # the worker bound since), plus this task's job id and index.
            headers = self.get_message_headers(worker_ctx)
            task_fields = {"job_id": payload.get("job_id"), "task_index": payload.get("index")}
            headers.update({self._get_header_name(key): value
                            for key, value in log_context.to_nameko(task_fields).items()})
            self.publisher.publish(payload, extra_headers=headers,
                                   routing_key=CONVERT_ROUTING_KEY)

        return publish_task


consume_tasks = TaskConsumer.decorator
