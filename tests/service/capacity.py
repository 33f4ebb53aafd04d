"""What worker_factory tests of the jobs service need real: a fixed
conversion-queue capacity (the real one reads the queue's consumers from
RabbitMQ: infra/nameko/capacity.py, tested in
tests/integration/test_fair_sharing.py), and its group commit."""


class FixedCapacity:
    def __init__(self, sandboxes=2):
        self._sandboxes = sandboxes

    def sandboxes(self):
        return self._sandboxes


def real_batches():
    """The jobs service's own group commit and cost samples, for
    worker_factory (which would mock them): each event is its own batch
    there, as one worker handles them one after another."""
    from services.jobs.costs import Conversions
    from services.jobs.groupcommit import Batcher
    return {"group_commit": Batcher(max_items=200, wait_s=0).submit,
            "conversions": Conversions()}
