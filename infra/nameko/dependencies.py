"""DependencyProviders shared by the services: each wraps a plain object."""
from nameko.extensions import DependencyProvider

from convertix.storage import Storage
from infra.config.schema import STORAGE, read


class StorageProvider(DependencyProvider):
    """The shared folder (`STORAGE.root` in config.yaml)."""

    def setup(self):
        self.storage = Storage(read(self.container.config, STORAGE)["root"])

    def get_dependency(self, worker_ctx):
        return self.storage


class Settings(DependencyProvider):
    """One section of config.yaml (a `Section` of infra/config/schema.py) as a
    dict: checked at setup (a bad value stops the service), defaults filled in."""

    def __init__(self, section):
        self.section = section

    def setup(self):
        self.values = read(self.container.config, self.section)

    def get_dependency(self, worker_ctx):
        return self.values


class ConfigProvider(DependencyProvider):
    """The whole config, read-only, for code that needs a value from it."""

    def get_dependency(self, worker_ctx):
        return self.container.config


class DeliveryAttempt(DependencyProvider):
    """Which delivery of the current message this is (1 = first).

    Quorum queues put `x-delivery-count` (the number of earlier deliveries)
    on a redelivered message; nameko passes message headers on as context data.
    """

    def get_dependency(self, worker_ctx):
        return int(worker_ctx.data.get("x-delivery-count") or 0) + 1
