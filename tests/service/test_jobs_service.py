"""The jobs service's logic with nameko's worker_factory: a real SQLite
session, the publisher replaced by worker_factory's mock."""
import os
import time
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory
from nameko_sqlalchemy.database import DatabaseWrapper
from sqlalchemy import create_engine, event, update
from sqlalchemy.orm import sessionmaker

from convertix.contract import JOBS_SERVICE, task_indexes
from convertix.errors import NotFound, NotReady
from convertix.storage import Storage
from infra import migrations
from services.jobs.models import Job, Task, utcnow
from services.jobs.service import JobsService
from tests.service.capacity import FixedCapacity, real_batches

JOB = "0123456789abcdef0123456789abcdef"
USER = "u" * 32
FILES = [{"filename": "a.png", "format": "png", "bytes": 10},
         {"filename": "b.jpg", "format": "jpeg", "bytes": 20}]


@pytest.fixture
def service(tmp_path):
    url = f"sqlite:///{tmp_path}/jobs.db"
    migrations.upgrade({JOBS_SERVICE: url})
    engine = create_engine(url)
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    session = sessionmaker(bind=engine)
    return worker_factory(JobsService, db=DatabaseWrapper(session),
                          storage=Storage(tmp_path / "storage"), capacity=FixedCapacity(),
                          **real_batches(),
                          config={"CONVERTER": {"max_attempts": 4}})


def test_create_job_records_and_queues_its_small_tasks_in_one_chunk(service):
    doc = service.create_job(JOB, USER, {"format": "png"}, FILES)
    assert doc["status"] == "queued"
    assert [(t["index"], t["status"], t["attempts"]) for t in doc["tasks"]] == [
        (0, "queued", 0), (1, "queued", 0)]
    payloads = [call.args[0] for call in service.publish_task.call_args_list]
    assert payloads == [{"job_id": JOB, "indexes": [0, 1], "options": {"format": "png"}}]


def test_with_chunks_of_one_each_task_is_its_own_message(service):
    service.config["CONVERTER"]["chunk_max_tasks"] = 1
    service.create_job(JOB, USER, {"format": "png"}, FILES)
    payloads = [call.args[0] for call in service.publish_task.call_args_list]
    assert payloads == [{"job_id": JOB, "index": i, "options": {"format": "png"}} for i in (0, 1)]


def published_indexes(service):
    return sorted(i for c in service.publish_task.call_args_list for i in task_indexes(c.args[0]))


def test_publish_failure_leaves_no_job(service):
    service.publish_task.side_effect = ConnectionError("broker down")
    with pytest.raises(Exception) as caught:
        service.create_job(JOB, USER, {"format": "png"}, FILES)
    assert caught.value.code == "BACKEND_UNAVAILABLE"
    with pytest.raises(NotFound):
        service.get_job(JOB, USER)


def output(width=10):
    return {"format": "png", "width": width, "height": 5, "bytes": 99}


def test_events_move_tasks_and_derive_the_job_status(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES)
    service.on_task_started({"job_id": JOB, "index": 0, "attempt": 1})
    assert service.get_job(JOB, USER)["status"] == "processing"

    service.on_task_succeeded({"job_id": JOB, "index": 0, "attempt": 1, "output": output(),
                               "input": {"format": "png", "width": 20, "height": 10,
                                         "bytes": 10}})
    service.on_task_failed({"job_id": JOB, "index": 1, "attempt": 1,
                            "error": {"code": "CORRUPT_IMAGE", "message": "bad"}})

    doc = service.get_job(JOB, USER)
    assert doc["status"] == "partial"
    first, second = doc["tasks"]
    assert first["output"]["width"] == 10 and first["input"]["width"] == 20
    assert second["error"] == {"code": "CORRUPT_IMAGE", "message": "bad"}
    assert second["output"] is None


def test_stale_and_out_of_order_events_are_ignored(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES[:1])
    # succeeded arrives before started (they travel on different queues)
    service.on_task_succeeded({"job_id": JOB, "index": 0, "attempt": 2, "output": output(7)})
    service.on_task_started({"job_id": JOB, "index": 0, "attempt": 1})
    service.on_task_failed({"job_id": JOB, "index": 0, "attempt": 3,
                            "error": {"code": "INTERNAL_ERROR", "message": "late"}})
    (task,) = service.get_job(JOB, USER)["tasks"]
    assert task["status"] == "succeeded" and task["attempts"] == 2
    assert task["output"]["width"] == 7 and task["error"] is None


def test_events_for_unknown_jobs_are_dropped(service):
    service.on_task_started({"job_id": JOB, "index": 0})  # no exception, nothing created
    with pytest.raises(NotFound):
        service.get_job(JOB, USER)


def test_dead_letter_fails_the_task_with_the_configured_attempts(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES[:1])
    service.on_dead_letter({"job_id": JOB, "index": 0, "options": {}})
    doc = service.get_job(JOB, USER)
    assert doc["status"] == "failed"
    assert doc["tasks"][0]["attempts"] == 4
    assert doc["tasks"][0]["error"]["code"] == "INTERNAL_ERROR"


def test_results_only_when_ready_and_only_for_the_owner(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES)
    with pytest.raises(NotReady):
        service.result_files(JOB, USER, index=0)
    with pytest.raises(NotFound):
        service.result_files(JOB, "someone-else", index=0)
    with pytest.raises(NotFound):
        service.result_files(JOB, USER, index=5)
    service.on_task_succeeded({"job_id": JOB, "index": 0, "output": output()})
    assert service.result_files(JOB, USER, index=0) == [
        {"index": 0, "filename": "a.png", "format": "png"}]
    service.on_task_failed({"job_id": JOB, "index": 1, "error": {"code": "CORRUPT_IMAGE"}})
    with pytest.raises(NotFound):  # failed: it never will have a result
        service.result_files(JOB, USER, index=1)


def test_cancel_cancels_unfinished_tasks_and_drops_late_results(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES)
    service.on_task_succeeded({"job_id": JOB, "index": 0, "output": output()})
    doc = service.cancel_job(JOB, USER)
    assert [t["status"] for t in doc["tasks"]] == ["succeeded", "cancelled"]
    assert doc["status"] == "cancelled"

    # the converter was still working on task 1: its result lands after the cancel
    late = service.storage.write(service.storage.output_path(JOB, 1, "png"), b"late")
    service.on_task_succeeded({"job_id": JOB, "index": 1, "output": output()})
    assert not os.path.exists(late)
    assert not os.path.exists(service.storage.job_dir(JOB))
    assert service.get_job(JOB, USER)["tasks"][1]["status"] == "cancelled"


def test_a_duplicate_success_keeps_the_result(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES[:1])
    result = service.storage.write(service.storage.output_path(JOB, 0, "png"), b"result")
    service.on_task_succeeded({"job_id": JOB, "index": 0, "attempt": 1, "output": output()})
    # redelivered: the converter ran again, or our ack was lost
    service.on_task_succeeded({"job_id": JOB, "index": 0, "attempt": 2, "output": output()})
    assert service.storage.read(result) == b"result"
    assert service.result_files(JOB, USER, index=0)[0]["format"] == "png"


def test_a_late_request_is_refused_not_created(service):
    with pytest.raises(Exception) as caught:
        service.create_job(JOB, USER, {"format": "png"}, FILES, deadline=time.time() - 1)
    assert caught.value.code == "BACKEND_UNAVAILABLE"
    service.publish_task.assert_not_called()
    with pytest.raises(NotFound):
        service.get_job(JOB, USER)


def test_a_redelivered_create_answers_the_job_it_created(service):
    """The process died after its commit, before its answer: RabbitMQ hands
    the request to the restarted one, which answers with that job (the
    gateway then says 202 and keeps the inputs), even past the deadline,
    and queues what was not queued."""
    first = service.create_job(JOB, USER, {"format": "png"}, FILES)
    session = service.db.session
    session.execute(update(Task).values(published=False))  # died before publishing too
    session.commit()
    service.publish_task.reset_mock()

    again = service.create_job(JOB, USER, {"format": "png"}, FILES, deadline=time.time() - 1)
    assert again["id"] == first["id"] and again["status"] == "queued"
    assert len(again["tasks"]) == 2
    assert published_indexes(service) == [0, 1]
    assert service.storage_usage(USER)["used_bytes"] == 30  # counted once


def test_forgotten_tasks_are_published_again(service):
    service.create_job(JOB, USER, {"format": "png"}, FILES)
    # as if the process had died between commit and publish, a minute ago
    session = service.db.session
    session.execute(update(Task).values(published=False))
    session.execute(update(Job).values(created_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    service.publish_task.reset_mock()

    service.publish_forgotten_tasks()
    assert published_indexes(service) == [0, 1]
    service.publish_task.reset_mock()
    service.publish_forgotten_tasks()  # now marked published: not again
    service.publish_task.assert_not_called()
