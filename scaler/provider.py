"""ScalerProvider: builds the Scaler (policy, queue stats, backend) from
config and owns its lifecycle: metrics server up at start, replicas drained
at stop."""
import os

from nameko.extensions import DependencyProvider

from infra.config import section
from convertix.contract import (
    AMQP_URI_KEY, CONVERT_QUEUE, MANAGEMENT_URL_KEY, SCALER_KEY,
)
from infra.queue_stats import QueueStatsReader
from scaler import metrics
from scaler.backends import make_backend
from scaler.loop import Scaler
from scaler.policy import Policy

NOT_POLICY = ("backend", "metrics_port", "local", "swarm")


def policy_from(settings, cores=None):
    """The Policy of a SCALER section. For the local backend the replicas
    share this machine: sandboxes per replica are its workers, and the
    sandbox cap defaults (0) to the machine's cores."""
    values = {k: v for k, v in settings.items() if k not in NOT_POLICY}
    if settings.get("backend", "local") == "local":
        local = settings.get("local") or {}
        values.setdefault("workers_per_replica", local.get("worker_max_workers", 1))
        if not int(values.get("max_sandboxes") or 0):
            values["max_sandboxes"] = cores or os.cpu_count() or 1
    return Policy.from_config(values)


class ScalerProvider(DependencyProvider):

    def setup(self):
        config = self.container.config
        settings = section(config, SCALER_KEY)
        self.reader = QueueStatsReader(config[AMQP_URI_KEY], config.get(MANAGEMENT_URL_KEY))
        self.scaler = Scaler(
            policy_from(settings),
            read_stats=lambda: self.reader.read(CONVERT_QUEUE),
            backend=make_backend(config, settings))
        self.metrics_port = settings.get("metrics_port")
        self.metrics_server = None

    def start(self):
        self.metrics_server = metrics.serve(self.metrics_port)

    def stop(self):
        self.scaler.close()
        self.reader.close()
        if self.metrics_server:
            self.metrics_server[0].shutdown()
            self.metrics_server[0].server_close()
            self.metrics_server = None

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self.scaler
