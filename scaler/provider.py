"""ScalerProvider: builds the Scaler (policy, queue stats, backend) from
config and owns its lifecycle: metrics server up at start, replicas drained
at stop."""
import dataclasses
import os

from nameko.extensions import DependencyProvider

from convertix.contract import CONVERT_QUEUE
from infra.config.schema import (
    AMQP_URI_KEY,
    CONVERTER,
    MANAGEMENT_URL_KEY,
    SCALER,
    ConfigError,
    read,
    read_value,
)
from infra.queue_stats import QueueStatsReader
from scaler import metrics
from scaler.backends import make_backend
from scaler.loop import Scaler
from scaler.policy import Policy


def policy_from(settings, workers=None, cores=None):
    """The Policy of a SCALER section (checked; missing keys: the schema's
    defaults). `workers`: CONVERTER.workers, the sandboxes each replica runs
    (None: the schema's default). For the local backend the replicas share
    this machine: the sandbox cap defaults (0) to the machine's cores."""
    settings = SCALER.resolve(settings)
    values = {field.name: settings[field.name] for field in dataclasses.fields(Policy)
              if field.name in settings}
    if settings["backend"] == "local":
        values["workers_per_replica"] = CONVERTER.default["workers"] if workers is None else workers
        if not values["max_sandboxes"]:
            values["max_sandboxes"] = cores or os.cpu_count() or 1
    try:
        return Policy(**values)
    except ValueError as exc:  # a rule between keys (min_replicas <= max_replicas)
        raise ConfigError(f"{SCALER.name}: {exc}") from None


class ScalerProvider(DependencyProvider):

    def setup(self):
        config = self.container.config
        settings = read(config, SCALER)
        self.reader = QueueStatsReader(read_value(config, AMQP_URI_KEY),
                                       read_value(config, MANAGEMENT_URL_KEY))
        self.scaler = Scaler(
            policy_from(settings, read(config, CONVERTER)["workers"]),
            read_stats=lambda: self.reader.read(CONVERT_QUEUE),
            backend=make_backend(config, settings))
        self.metrics_port = settings["metrics_port"]
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
