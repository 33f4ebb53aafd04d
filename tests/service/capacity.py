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
    """The jobs service's own group commit, cost samples and document cache,
    for worker_factory (which would mock them): each event is its own batch
    there, as one worker handles them one after another."""
    from services.jobs.costs import Conversions
    from services.jobs.doccache import Documents
    from services.jobs.groupcommit import Batcher
    return {"group_commit": Batcher(max_items=200, wait_s=0).submit,
            "conversions": Conversions(), "documents": Documents()}


def sqlite_jobs_service(tmp_path, **config):
    """A JobsService under worker_factory on a fresh SQLite file, its
    storage under tmp_path, with the real parts above."""
    from nameko.testing.services import worker_factory
    from nameko_sqlalchemy.database import DatabaseWrapper
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from convertix.storage import Storage
    from services.jobs.models import Base
    from services.jobs.service import JobsService
    engine = create_engine(f"sqlite:///{tmp_path}/jobs.db")
    Base.metadata.create_all(engine)
    return worker_factory(JobsService, db=DatabaseWrapper(sessionmaker(bind=engine)),
                          storage=Storage(tmp_path / "storage"), capacity=FixedCapacity(),
                          **real_batches(), config={"CONVERTER": {"max_attempts": 3}, **config})
