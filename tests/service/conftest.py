"""Fixtures of the service layer."""
import pytest
from nameko.testing.services import worker_factory
from nameko_sqlalchemy.database import DatabaseWrapper
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from convertix.storage import Storage
from services.jobs.service import JobsService
from tests.service.capacity import FixedCapacity, real_batches


@pytest.fixture
def make_service(db_url, tmp_path):
    """make(**JOBS settings): the jobs service under worker_factory (the
    publisher and dispatcher mocked) on a real database of each kind
    (db_url: SQLite and PostgreSQL, migrated), a real storage folder and two
    sandboxes on the queue."""
    engines, services = [], []

    def make(**jobs_settings):
        engine = create_engine(db_url)
        engines.append(engine)
        services.append(worker_factory(
            JobsService, db=DatabaseWrapper(sessionmaker(bind=engine)),
            storage=Storage(tmp_path / "storage"), capacity=FixedCapacity(), **real_batches(),
            config={"CONVERTER": {"max_attempts": 3}, "JOBS": jobs_settings}))
        return services[-1]
    yield make
    for service in services:
        service.db.session.close()
    for engine in engines:
        engine.dispose()
