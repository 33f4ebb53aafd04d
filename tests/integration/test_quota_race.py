"""The quota holds with two jobs processes on one database.

Creating a job reads the user's stored bytes, checks the quota, then
commits the new job and its bytes. Two processes creating jobs for one user
at the same moment both read the total as it was before either committed,
unless the first locks the user's row (services/jobs/quota.py `lock`). Here
two `nameko run` jobs processes (tests/slow_create_jobs.py: the creation's
transaction held open 0.3 s, so that their creations overlap for sure) share
one database of each kind and one RPC queue, and many creations for one
user are sent at once: what is accepted never adds up past the quota.
"""
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from convertix.errors import QuotaExceeded
from services.jobs import quota
from tests.helpers import jobs_processes

QUOTA = 1000
AT_ONCE = 8  # creations sent together, shared by the two processes


@pytest.fixture
def two_jobs_processes(rabbit_config, rabbit_manager, db_url, tmp_path):
    env = {"AMQP_URI": rabbit_config["AMQP_URI"], "DATABASE_URL": db_url,
           "STORAGE_ROOT": str(tmp_path / "storage"), "QUOTA_BYTES": str(QUOTA),
           "MAX_TASKS_IN_FLIGHT_PER_USER": "1", "LOG_DIR": str(tmp_path / "log"),
           "METRICS_PORT": "0", "METRICS_TARGETS_DIR": str(tmp_path / "targets"),
           "PYTHONUNBUFFERED": "1"}
    with jobs_processes("tests.slow_create_jobs:JobsService", env, rabbit_config,
                        rabbit_manager, tmp_path):
        yield db_url


def create_at_once(rpc, user_id, size, count):
    """`count` jobs of `size` bytes for the user sent together: the sizes accepted."""
    files = [{"filename": "a.png", "format": "png", "bytes": size}]
    replies = [rpc.jobs.create_job.call_async(uuid.uuid4().hex, user_id, {"format": "png"}, files)
               for _ in range(count)]
    accepted = []
    for reply in replies:
        try:
            reply.result()
        except QuotaExceeded:  # nameko raises the service's error class again
            continue
        accepted.append(size)
    return accepted


def test_two_processes_never_accept_past_the_quota(two_jobs_processes, rabbit_config):
    engine = create_engine(two_jobs_processes)
    first, near = uuid.uuid4().hex, uuid.uuid4().hex
    with ClusterRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=60) as rpc:
        # a user's first jobs (no usage row yet): room for one
        accepted_first = create_at_once(rpc, first, 600, AT_ONCE)
        # a user near the quota: 700 stored, room for one more of 300
        rpc.jobs.create_job(uuid.uuid4().hex, near, {"format": "png"},
                            [{"filename": "a.png", "format": "png", "bytes": 700}])
        accepted_near = create_at_once(rpc, near, 300, AT_ONCE)
        usage = tuple(rpc.jobs.storage_usage(user)["used_bytes"] for user in (first, near))
    with Session(engine) as session:
        recounted = quota.recount(session, first), quota.recount(session, near)
    engine.dispose()
    assert (accepted_first, accepted_near) == ([600], [300])
    assert usage == recounted == (600, 1000)
