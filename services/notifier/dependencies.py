"""The notifier's DependencyProviders: its tables as a DeliveryStore."""
from infra.nameko.database import ModelDatabase
from services.notifier.store import DeliveryStore


class Deliveries(ModelDatabase):
    """`DB_URIS["notifier:Base"]`, handed to workers as a DeliveryStore.

    One store for the process: it opens a short session per operation, so
    nothing is kept per worker.
    """

    def setup(self):
        super().setup()
        self.store = DeliveryStore(lambda: self.Session(close_on_exit=True))

    def get_dependency(self, worker_ctx):
        return self.store

    def worker_teardown(self, worker_ctx):
        pass
