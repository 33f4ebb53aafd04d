"""Queues an earlier version declared and this one consumes no more, deleted
when the service starts.

A durable queue stays bound to its exchange after its consumer is gone, so
it keeps collecting persistent messages, with no end, on an upgraded broker
(e.g. the notifier's queue for every `job_changed`, before it listened to
`job_webhook_due` alone). Deleting a queue that is not there is no error.
"""
import logging

from kombu import Connection
from nameko.extensions import DependencyProvider

from infra.config.schema import AMQP_URI_KEY

log = logging.getLogger(__name__)


class ObsoleteQueues(DependencyProvider):
    def __init__(self, *names):
        self.names = names

    def setup(self):
        try:
            with Connection(self.container.config[AMQP_URI_KEY], connect_timeout=5) as conn:
                for name in self.names:
                    removed = conn.default_channel.queue_delete(queue=name)
                    if removed:
                        log.warning("deleted obsolete queue %s with %d messages", name, removed)
        except Exception as exc:  # the broker is down: the service's own start will say so
            log.warning("obsolete queues not deleted now: %s", exc)

    def get_dependency(self, worker_ctx):
        return None
