"""Two jobs processes refilling one user's queue at once publish each task
once (services/jobs/fair.py `lock_user`, PostgreSQL's advisory lock).

Two `nameko run` jobs processes (tests/slow_refill_jobs.py: a refill's read
held 0.3 s before it publishes) share one PostgreSQL database and one RPC
queue; no converter consumes. Jobs for one user are created through both at
once: each creation refills the user's queue, so the two processes' refills
overlap and read the same waiting tasks. Every message on the conversion
queue is then drained and counted: one per task.
"""
import json
import uuid
from collections import Counter

import pytest
from kombu import Connection
from nameko.standalone.rpc import ClusterRpcProxy

from convertix.contract import CONVERT_QUEUE, task_indexes
from tests.helpers import jobs_processes

AT_ONCE = 8      # creations sent together, shared by the two processes
FILES = 3        # tasks per job


@pytest.fixture
def two_jobs_processes(rabbit_config, rabbit_manager, postgres_url, tmp_path):
    env = {"AMQP_URI": rabbit_config["AMQP_URI"], "DATABASE_URL": postgres_url,
           "STORAGE_ROOT": str(tmp_path / "storage"),
           "MAX_TASKS_IN_FLIGHT_PER_USER": str(AT_ONCE * FILES),  # all go out at once
           "LOG_DIR": str(tmp_path / "log"), "METRICS_PORT": "0",
           "METRICS_TARGETS_DIR": str(tmp_path / "targets"), "PYTHONUNBUFFERED": "1"}
    with jobs_processes("tests.slow_refill_jobs:JobsService", env, rabbit_config,
                        rabbit_manager, tmp_path):
        yield


def drain(amqp_uri):
    """(job id, index) of every message on the conversion queue, taken off it."""
    found = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        while True:
            message = channel.basic_get(queue=CONVERT_QUEUE, no_ack=True)
            if message is None:
                return found
            body = json.loads(message.body)  # one task, or a chunk of them
            found.extend((body["job_id"], index) for index in task_indexes(body))


def test_two_processes_publish_each_task_once(two_jobs_processes, rabbit_config):
    user_id = uuid.uuid4().hex
    files = [{"filename": f"{i}.png", "format": "png", "bytes": 10} for i in range(FILES)]
    with ClusterRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=60) as rpc:
        replies = [rpc.jobs.create_job.call_async(uuid.uuid4().hex, user_id, {"format": "png"},
                                                  files) for _ in range(AT_ONCE)]
        job_ids = [reply.result()["id"] for reply in replies]
    published = Counter(drain(rabbit_config["AMQP_URI"]))
    twice = {task: n for task, n in published.items() if n > 1}
    assert not twice, f"published more than once: {twice}"
    assert set(published) == {(job_id, i) for job_id in job_ids for i in range(FILES)}
