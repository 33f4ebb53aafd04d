"""/convert's jobs recorded from their task's final event (services/jobs/records.py):
the gateway's job id is the key. worker_factory, a real SQLite database."""
import pytest

from convertix import direct
from convertix.errors import NotFound
from services.jobs import quota
from tests.service.capacity import sqlite_jobs_service

USER = "u" * 32
JOB = "c" * 32
OPTIONS = {"format": "webp", "width": 30}
RECORD = {"filename": "a.png", "format": "png", "bytes": 100, "sha256": None, "user_id": USER,
          "options": OPTIONS, "callback_url": None, "created_at": 1_800_000_000.0}
OUTPUT = {"format": "webp", "width": 30, "height": 20, "bytes": 40}


@pytest.fixture
def service(tmp_path):
    return sqlite_jobs_service(tmp_path)


def succeeded():
    task = direct.task_message(JOB, OPTIONS, RECORD)
    return direct.with_record(task, {"job_id": JOB, "index": 0, "attempt": 1, "output": OUTPUT,
                                     "input": {"format": "png", "width": 60, "height": 40}})


def used(service):
    return quota.used_bytes(service.db.session, USER)


def test_a_final_event_with_a_record_makes_the_job_once(service):
    with pytest.raises(NotFound):
        service.get_job(JOB, USER)
    service.on_task_succeeded(succeeded())
    service.on_task_succeeded(succeeded())  # delivered again: the same job, unchanged
    (doc,) = service.list_jobs(USER)["items"]
    (task,) = doc["tasks"]
    assert doc["id"] == JOB and doc["status"] == "succeeded" and doc["seq"] == 2
    assert doc["created_at"].startswith("2027-01-15")  # the request's time, not the record's
    assert task["filename"] == "a.png" and task["output"]["bytes"] == 40
    assert task["input"]["bytes"] == 100 and task["attempts"] == 1
    assert used(service) == 40  # the result; the input went with the final status


def test_a_job_recorded_on_the_202_path_is_moved_not_made_again(service):
    doc = service.create_job(JOB, USER, OPTIONS, [RECORD], queued=True)
    assert doc["status"] == "queued" and used(service) == 100
    service.publish_task.assert_not_called()  # its task is on the queue already
    service.on_task_succeeded(succeeded())
    (doc,) = service.list_jobs(USER)["items"]
    assert doc["status"] == "succeeded" and used(service) == 40


def test_the_record_made_first_is_what_the_202_path_answers(service):
    service.on_task_succeeded(succeeded())
    doc = service.create_job(JOB, USER, OPTIONS, [RECORD], queued=True)
    assert doc["status"] == "succeeded" and len(service.list_jobs(USER)["items"]) == 1


def test_a_dead_lettered_convert_task_is_recorded_failed(service):
    service.on_dead_letter(direct.task_message(JOB, OPTIONS, RECORD, reply_to="q"))
    doc = service.get_job(JOB, USER)
    assert doc["status"] == "failed" and doc["tasks"][0]["error"]["code"] == "INTERNAL_ERROR"
    assert used(service) == 0


def test_stage_reports_make_no_job(service):
    service.on_task_started({"job_id": JOB, "index": 0, "attempt": 1})
    assert service.list_jobs(USER)["items"] == []


def commits_during(service, call):
    """How many transactions `call` commits on the service's database."""
    from sqlalchemy import event
    engine, seen = service.db.session.get_bind(), []

    def count(_conn):
        seen.append(1)
    event.listen(engine, "commit", count)
    try:
        call()
    finally:
        event.remove(engine, "commit", count)
    return len(seen)


def test_a_job_recorded_at_its_end_refills_nothing_one_in_flight_does(tmp_path):
    """A /convert recorded from its final event was never counted in flight,
    so its end frees no place: one commit, no refill. One recorded on the
    202 path was counted: its end lets the user's next waiting task out."""
    service = sqlite_jobs_service(tmp_path, JOBS={"max_tasks_in_flight_per_user": 1})
    assert commits_during(service, lambda: service.on_task_succeeded(succeeded())) == 1
    service.publish_task.assert_not_called()

    other, waiting = "d" * 32, "e" * 32
    service.create_job(other, USER, OPTIONS, [RECORD], queued=True)  # the 202 path: in flight
    service.create_job(waiting, USER, OPTIONS, [RECORD])             # held back by the cap of 1
    service.publish_task.assert_not_called()
    done = direct.with_record(direct.task_message(other, OPTIONS, RECORD),
                              {"job_id": other, "index": 0, "attempt": 1, "output": OUTPUT})
    assert commits_during(service, lambda: service.on_task_succeeded(done)) == 2  # event, refill
    (message,), _ = service.publish_task.call_args
    assert message["job_id"] == waiting


def statements_during(service, call):
    """How many SQL statements `call` runs on the service's database."""
    from sqlalchemy import event
    engine, seen = service.db.session.get_bind(), []

    def count(*_args):
        seen.append(1)
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), result


def test_a_poll_between_two_changes_reads_one_row_and_a_change_elsewhere_is_seen(tmp_path):
    """get_job gives the document this process built at the job's current
    seq (services/jobs/doccache.py); a change made by another jobs process
    (its own cache, the same database) moves the seq, so it is built again."""
    service = sqlite_jobs_service(tmp_path)
    other = sqlite_jobs_service(tmp_path)  # a second process on the same database file
    files = [{**RECORD, "filename": f"{i}.png"} for i in range(3)]
    created = service.create_job(JOB, USER, OPTIONS, files)
    count, polled = statements_during(service, lambda: service.get_job(JOB, USER))
    assert count == 1 and polled == created  # the document built at creation, its seq read

    other.on_task_succeeded({"job_id": JOB, "index": 1, "attempt": 1, "output": OUTPUT})
    count, polled = statements_during(service, lambda: service.get_job(JOB, USER))
    assert count > 1 and polled["seq"] == created["seq"] + 1
    assert polled["tasks"][1]["status"] == "succeeded"
    assert polled == other.get_job(JOB, USER)
    assert statements_during(service, lambda: service.get_job(JOB, USER)) == (1, polled)
    with pytest.raises(NotFound):  # another user's job is not found, cached or not
        service.get_job(JOB, "x" * 32)


def test_a_record_is_inserted_as_it_ends(service):
    """The job a final event records is inserted final: no INSERT then UPDATEs."""
    from sqlalchemy import event
    engine, seen = service.db.session.get_bind(), []

    def keep(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0] + " " + statement.split()[2 if statement.startswith(
            ("INSERT", "DELETE")) else 1])
    event.listen(engine, "before_cursor_execute", keep)
    try:
        service.on_task_succeeded(succeeded())
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert sorted(s for s in seen if not s.startswith("SELECT")) == [
        "INSERT jobs", "INSERT storage_usage", "INSERT tasks", "UPDATE jobs"], seen  # the lock
    assert service.get_job(JOB, USER)["status"] == "succeeded" and used(service) == 40


def test_records_of_different_outcomes_go_in_together(service, caplog):
    """One batch records a succeeded /convert and a failed one: their rows
    have different columns (output, error), and each is stored whole in the
    batch's one transaction, not by the one-by-one fallback."""
    from sqlalchemy import select

    from services.jobs import transitions
    from services.jobs.models import Task
    other = "d" * 32
    failed = direct.with_record(direct.task_message(other, OPTIONS, RECORD), {
        "job_id": other, "index": 0, "attempt": 1,
        "error": {"code": "INVALID_IMAGE", "message": "not an image"}})
    items = [(payload, transitions.event_of(kind, payload, **parts), {})  # as the handlers make them
             for payload, kind, parts in (
        (succeeded() | {"duration_s": 0.01}, "succeeded", {"output": OUTPUT}),
        (failed, "failed", {"error": failed["error"]}),
        (succeeded() | {"job_id": "e" * 32, "duration_s": 0.01}, "succeeded", {"output": OUTPUT}))]
    changes = service._apply_batch(items)
    assert [change.status for change in changes] == ["succeeded", "failed", "succeeded"]
    assert "one by one" not in caplog.text
    assert len(service.conversions.since({})["conversions"]) == 2  # each success once
    rows = service.db.session.execute(select(
        Task.job_id, Task.status, Task.input_width, Task.output_format, Task.error_code)).all()
    assert sorted(tuple(row) for row in rows) == [
        (JOB, "succeeded", 60, "webp", None),
        (other, "failed", None, None, "INVALID_IMAGE"),
        ("e" * 32, "succeeded", 60, "webp", None)]
