"""The gateway's own publisher to the conversion queue (/convert's tasks,
convertix/direct.py): confirmed, persistent and mandatory, as the jobs
service publishes its tasks (infra/nameko/queues.py TaskPublisher), so a
task the gateway was told is queued is on the queue, on disk.

One per process, made on first use; nameko's Publisher keeps a pool of
connections and producers (kombu's), shared by the process's threads.
"""
import threading

from kombu.exceptions import KombuError, OperationalError
from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.constants import HEADER_PREFIX  # how nameko carries context data in headers

from convertix.contract import CONVERT_ROUTING_KEY
from convertix.errors import ConvertixError
from infra.logs import context as log_context
from infra.nameko.queues import convert_exchange

EXTENSION = "convertix.tasks"
_lock = threading.Lock()


class TaskSender:
    def __init__(self, amqp_uri):
        self.publisher = Publisher(amqp_uri, use_confirms=True, mandatory=True,
                                   exchange=convert_exchange, routing_key=CONVERT_ROUTING_KEY)

    def send(self, task):
        """Put `task` on the conversion queue; BACKEND_UNAVAILABLE if the broker did not take it."""
        fields = {**log_context.current(), "job_id": task["job_id"], "task_index": task["index"]}
        headers = {f"{HEADER_PREFIX}.{key}": value
                   for key, value in log_context.to_nameko(fields).items()}
        try:
            self.publisher.publish(task, headers=headers)
        except (UndeliverableMessage, KombuError, OperationalError, OSError) as exc:
            raise ConvertixError(f"the message broker did not take the task ({type(exc).__name__})",
                                 code="BACKEND_UNAVAILABLE") from exc


def task_sender(app):
    with _lock:
        if EXTENSION not in app.extensions:
            app.extensions[EXTENSION] = TaskSender(app.config["AMQP_URI"])
        return app.extensions[EXTENSION]
