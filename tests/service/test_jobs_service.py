"""The jobs service's logic with nameko's worker_factory: a real SQLite
session, the publisher replaced by worker_factory's mock."""
import pytest
from nameko.testing.services import worker_factory
from nameko_sqlalchemy.database import DatabaseWrapper
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

from convertix.errors import NotFound, NotReady
from convertix.storage import Storage
from services.jobs.models import Base
from services.jobs.service import JobsService

JOB = "0123456789abcdef0123456789abcdef"
USER = "u" * 32
FILES = [{"filename": "a.png", "format": "png", "bytes": 10},
         {"filename": "b.jpg", "format": "jpeg", "bytes": 20}]


@pytest.fixture
def service(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/jobs.db")
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(engine)
    session = sessionmaker(bind=engine)
    return worker_factory(JobsService, db=DatabaseWrapper(session),
                          storage=Storage(tmp_path / "storage"),
                          config={"CONVERTER": {"max_attempts": 4}})


def test_create_job_records_and_queues_one_message_per_task(service):
    doc = service.create_job(JOB, USER, {"format": "png"}, FILES)
    assert doc["status"] == "queued"
    assert [(t["index"], t["status"], t["attempts"]) for t in doc["tasks"]] == [
        (0, "queued", 0), (1, "queued", 0)]
    payloads = [call.args[0] for call in service.publish_task.call_args_list]
    assert payloads == [{"job_id": JOB, "index": i, "options": {"format": "png"}} for i in (0, 1)]


def test_publish_failure_leaves_no_job(service):
    service.publish_task.side_effect = ConnectionError("broker down")
    with pytest.raises(Exception) as caught:
        service.create_job(JOB, USER, {"format": "png"}, FILES)
    assert caught.value.code == "BACKEND_UNAVAILABLE"
    with pytest.raises(NotFound):
        service.get_job(JOB, USER)


def output(width=10):
    return {"format": "png", "width": width, "height": 5, "bytes": 99, "path": "/x/0.png"}


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
        {"index": 0, "filename": "a.png", "format": "png", "path": "/x/0.png"}]


def test_cancel_cancels_unfinished_tasks_and_drops_late_results(service, tmp_path):
    service.create_job(JOB, USER, {"format": "png"}, FILES)
    service.on_task_succeeded({"job_id": JOB, "index": 0, "output": output()})
    doc = service.cancel_job(JOB, USER)
    assert [t["status"] for t in doc["tasks"]] == ["succeeded", "cancelled"]
    assert doc["status"] == "cancelled"

    late = tmp_path / "late.png"
    late.write_bytes(b"x")
    service.on_task_succeeded({"job_id": JOB, "index": 1,
                               "output": {**output(), "path": str(late)}})
    assert not late.exists()
    assert service.get_job(JOB, USER)["tasks"][1]["status"] == "cancelled"
