"""Answers to the gateway waiting on a /convert task (convertix/direct.py).

Sent just before the task's final event (which records the job) and
unconfirmed: an answer lost on the way costs only time, as the gateway is
woken by the job's record too, or answers 202 once it has waited long enough.
"""
import logging

from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider

from convertix import direct

log = logging.getLogger(__name__)


class Replies(DependencyProvider):
    def setup(self):
        # the default exchange routes by queue name; no confirm, not persistent, and
        # no retries: a broker in trouble must not hold the task's acknowledgement
        self.publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=False,
                                   delivery_mode=1, retry=False, exchange="")

    def get_dependency(self, worker_ctx):
        def reply(task, payload):
            reply_to = task.get(direct.REPLY_TO)
            if not reply_to or not task.get(direct.RECORD):
                return
            try:
                self.publisher.publish(direct.answer(task, payload), routing_key=reply_to)
            except Exception:  # the gateway hears of the record, or answers 202
                log.warning("task %s: its answer to the gateway was not sent", task["job_id"],
                            exc_info=True)
        return reply
