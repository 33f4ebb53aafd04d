"""Two jobs processes' retention sweeps at the same moment (the stack runs
two) remove each expired job once, and take its bytes off its user's total
once (services/jobs/retention.py `remove`: it locks the rows it deletes,
guarded by the cutoff). Two sessions on one PostgreSQL database, the second
sweep started while the first holds its locks."""
import uuid
from datetime import timedelta

import pytest
from eventlet import patcher
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from infra import migrations
from services.jobs import quota, retention, states
from services.jobs.models import Job, StorageUsage, Task, utcnow
from tests.conftest import fresh_postgres_database
from tests.helpers import wait_until

JOBS, BYTES = 6, 100
# an OS thread: psycopg2 blocks the whole process (the test's green threads
# too) while it waits on a lock
Thread = patcher.original("threading").Thread


@pytest.fixture
def engine():
    with fresh_postgres_database() as url:
        migrations.upgrade(url)
        engine = create_engine(url)
        yield engine
        engine.dispose()


def test_two_sweeps_remove_each_job_once(engine):
    user_id, old = uuid.uuid4().hex, utcnow() - timedelta(days=30)
    with Session(engine) as session:
        for _ in range(JOBS):
            job = Job(id=uuid.uuid4().hex, user_id=user_id, status=states.SUCCEEDED,
                      options="{}", created_at=old, updated_at=old)
            session.add(job)
            session.add(Task(job_id=job.id, index=0, filename="a.png",
                             status=states.SUCCEEDED, output_bytes=BYTES, updated_at=old))
        quota.add(session, user_id, JOBS * BYTES)
        session.commit()
    cutoff = utcnow() - timedelta(days=1)
    first, second = Session(engine), Session(engine)
    try:
        expired = [retention.expired(s, cutoff, 100) for s in (first, second)]
        assert expired[0] == expired[1] and len(expired[0]) == JOBS   # both picked them all
        removed = {"first": retention.remove(first, expired[0], cutoff)}   # locks held
        thread = Thread(
            target=lambda: removed.update(second=retention.remove(second, expired[1], cutoff)))
        thread.start()
        # the second sweep waits on the first's row locks
        waiting = wait_until(lambda: _waiting_on_locks(engine), timeout=30, interval=0.1,
                             message="the second sweep waiting on the first's locks")
        first.commit()
        thread.join(timeout=60)
        second.commit()
    finally:
        first.close()
        second.close()
    assert waiting and removed == {"first": JOBS, "second": 0}
    with Session(engine) as session:
        assert session.execute(select(func.count(Job.id))).scalar_one() == 0
        assert session.get(StorageUsage, user_id).used_bytes == 0   # taken off once


def _waiting_on_locks(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()")).scalar_one()
