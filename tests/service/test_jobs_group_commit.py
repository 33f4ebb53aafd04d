"""Group commits: task events that arrive together are applied in one
transaction (services/jobs/groupcommit.py), with one job_changed per job per
batch, and end in the same documents as the same events applied one by one.
worker_factory's mocked broker, a real database of each kind."""
import logging

import eventlet
import pytest
from nameko.testing.services import worker_factory
from nameko_sqlalchemy.database import DatabaseWrapper
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

from convertix.contract import JOB_CHANGED, JOB_FINAL
from convertix.storage import Storage
from infra.logs import context as log_fields
from services.jobs.costs import Conversions
from services.jobs.doccache import Documents
from services.jobs.groupcommit import Batcher
from services.jobs.service import JobsService
from tests.service.capacity import FixedCapacity

USER = "u" * 32
JOBS, FILES = 4, 50  # 200 tasks, 200 events
BURST_COMMITS_AT_MOST = 12  # one for the batch, then each user's refill reads (a few)


MADE = []


@pytest.fixture
def engine(db_url):
    engine = create_engine(db_url)
    yield engine
    while MADE:  # their connections back before the database goes
        MADE.pop().db.session.close()
    engine.dispose()


def jobs_service(engine, tmp_path, wait_s):
    MADE.append(_service(engine, tmp_path, wait_s))
    return MADE[-1]


def _service(engine, tmp_path, wait_s):
    return worker_factory(
        JobsService, db=DatabaseWrapper(sessionmaker(bind=engine)),
        storage=Storage(tmp_path / "storage"), capacity=FixedCapacity(),
        group_commit=Batcher(max_items=500, wait_s=wait_s).submit, conversions=Conversions(),
        documents=Documents(),
        config={"CONVERTER": {"max_attempts": 3}, "JOBS": {"reuse_results": False}})


def create_jobs(service, first):
    ids = [f"{first + n:032x}" for n in range(JOBS)]
    for job_id in ids:
        service.create_job(job_id, USER, {"format": "png"}, [
            {"filename": f"{i}.png", "format": "png", "bytes": 100} for i in range(FILES)])
    return ids


def events(ids):
    """(handler name, payload): each task ends, one of each job fails, the rest succeed."""
    out = []
    for index in range(FILES):
        for job_id in ids:
            ref = {"job_id": job_id, "index": index, "attempt": 1,
                   "input": {"format": "png", "width": 4, "height": 4, "bytes": 100}}
            if index == 7:
                out.append(("on_task_failed", {**ref, "error": {"code": "CORRUPT_IMAGE",
                                                                "message": "bad"}}))
            else:
                out.append(("on_task_succeeded", {**ref, "duration_s": 0.01, "output": {
                    "format": "png", "width": 2, "height": 2, "bytes": 40}}))
    return out


def comparable(document):
    """A document without what differs between two jobs by nature: id,
    times, and seq (one per change: fewer changes in a batch)."""
    return {**{k: v for k, v in document.items()
               if k not in ("id", "seq", "created_at", "updated_at")},
            "tasks": [{**t, "output": t["output"] and {k: v for k, v in t["output"].items()
                                                       if k != "url"}}
                      for t in document["tasks"]]}


def counting_commits(engine):
    count = [0]
    event.listen(engine, "commit", lambda _conn: count.__setitem__(0, count[0] + 1))
    return count


def test_a_burst_of_200_events_ends_in_few_commits_and_the_same_documents(engine, tmp_path):
    commits = counting_commits(engine)

    alone = jobs_service(engine, tmp_path, wait_s=0)
    alone_ids = create_jobs(alone, 1)
    before = commits[0]
    for handler, payload in events(alone_ids):
        getattr(alone, handler)(payload)
    one_by_one = commits[0] - before

    burst = jobs_service(engine, tmp_path, wait_s=0.002)
    burst_ids = create_jobs(burst, 100)
    burst.dispatch.reset_mock()
    before = commits[0]
    pool = eventlet.GreenPool(1000)  # as nameko's workers: all 200 delivered at once
    for handler, payload in events(burst_ids):
        pool.spawn(getattr(burst, handler), payload)
    pool.waitall()
    together = commits[0] - before

    assert one_by_one >= 200
    assert together <= BURST_COMMITS_AT_MOST, (together, one_by_one)
    # one job_changed per job for the whole batch, each the job's final document
    changed = [call.args[1] for call in burst.dispatch.call_args_list
               if call.args[0] == JOB_CHANGED]
    assert sorted(c["job_id"] for c in changed) == burst_ids
    # final (one task failed in each), so the whole document
    assert all(c["document"]["status"] in JOB_FINAL for c in changed)
    for mine, theirs in zip(burst_ids, alone_ids):
        doc, reference = burst.get_job(mine, USER), alone.get_job(theirs, USER)
        assert comparable(doc) == comparable(reference)
        assert doc["seq"] == 2 and reference["seq"] == 1 + FILES  # created, then one change
    # the scaler's cost samples: one per applied success, in either way
    kept = [service.conversions.since({})["conversions"] for service in (burst, alone)]
    assert len(kept[0]) == len(kept[1]) == JOBS * (FILES - 1)


def test_one_bad_event_in_a_batch_fails_alone(engine, tmp_path):
    service = jobs_service(engine, tmp_path, wait_s=0.002)
    (job_id, *_rest) = create_jobs(service, 1)
    good = {"job_id": job_id, "index": 0, "attempt": 1,
            "output": {"format": "png", "width": 2, "height": 2, "bytes": 40}}
    bad = {"job_id": job_id, "index": 1, "attempt": "not a number"}  # int() raises in the core
    pool = eventlet.GreenPool()
    ok = pool.spawn(service.on_task_succeeded, good)
    failing = pool.spawn(service.on_task_succeeded, bad)
    ok.wait()
    with pytest.raises(ValueError):  # its message is requeued; the other's is not
        failing.wait()
    tasks = service.get_job(job_id, USER)["tasks"]
    assert [t["status"] for t in tasks[:2]] == ["succeeded", "queued"]


class _Fields(logging.Handler):
    """Each line of the jobs service, with the log context it was written in."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append((record.getMessage(), log_fields.current()))


def test_each_event_of_a_batch_logs_and_announces_with_its_own_context(engine, tmp_path):
    """The batch runs in one worker: the others' lines and job_changed must
    still carry their own trace (the leader's would mix two users' jobs)."""
    service = jobs_service(engine, tmp_path, wait_s=0.01)
    ids = create_jobs(service, 1)[:2]
    traces = {job_id: f"{n + 1:x}" * 32 for n, job_id in enumerate(ids)}

    def handle(job_id):
        with log_fields.bound(trace_id=traces[job_id], job_id=job_id):
            service.on_task_succeeded({"job_id": job_id, "index": 0, "attempt": 1, "output": {
                "format": "png", "width": 2, "height": 2, "bytes": 40}})

    handler, logger = _Fields(), logging.getLogger("services.jobs.service")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        pool = eventlet.GreenPool()
        for job_id in ids:
            pool.spawn(handle, job_id)
        pool.waitall()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [(message, fields) for message, fields in handler.lines if message.startswith("task ")]
    assert len(lines) == 2, handler.lines  # one batch, both events in it
    for message, fields in lines:
        job_id = message.split()[1].split("/")[0]
        assert fields["trace_id"] == traces[job_id], (message, fields)
    bound = [call.kwargs for call in service.log_context.bind.call_args_list
             if "trace_id" in call.kwargs and call.kwargs.get("job_id") in traces]
    assert {b["job_id"]: b["trace_id"] for b in bound} == traces
