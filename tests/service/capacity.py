"""A fixed conversion-queue capacity for worker_factory tests of the jobs
service (the real one reads the queue's consumers from RabbitMQ:
infra/nameko/capacity.py, tested in tests/integration/test_fair_sharing.py)."""


class FixedCapacity:
    def __init__(self, sandboxes=2):
        self._sandboxes = sandboxes

    def sandboxes(self):
        return self._sandboxes
