"""job_changed: the jobs service publishes each committed change, with a seq
that grows per job; stages and queue positions are part of the document.
worker_factory's mock dispatcher, a real SQLite database."""
import pytest

from convertix.contract import JOB_CHANGED, JOB_WEBHOOK_DUE
from services.jobs import progress
from tests.service.capacity import sqlite_jobs_service

USER = "u" * 32
FILES = [{"filename": "a.png", "format": "png", "bytes": 10}]


def job_id(n):
    return f"{n:032x}"


@pytest.fixture
def service(tmp_path):
    return sqlite_jobs_service(tmp_path)


def changes(service):
    """The job_changed payloads dispatched so far."""
    calls = service.dispatch.call_args_list
    assert all(call.args[0] == JOB_CHANGED for call in calls)
    return [call.args[1] for call in calls]


def ref(index=0, attempt=1, job=1):
    return {"job_id": job_id(job), "index": index, "attempt": attempt}


def test_each_committed_change_is_published_once_with_a_growing_seq(service):
    service.create_job(job_id(1), USER, {"format": "png"}, FILES,
                       callback_url="https://example.com/hook")
    service.on_task_started(ref())
    service.on_task_progress({**ref(), "stage": "transform"})
    service.on_task_progress({**ref(), "stage": "encode"})
    service.on_task_progress({**ref(), "stage": "store"})
    service.on_task_succeeded({**ref(), "output": {"format": "png", "width": 1, "height": 1,
                                                   "bytes": 5}})
    published = changes(service)
    assert [p["seq"] for p in published] == [1, 2, 3, 4, 5, 6]
    assert [(p["document"]["status"], p["document"]["tasks"][0]["stage"]) for p in published] == [
        ("queued", None), ("processing", "decode"), ("processing", "transform"),
        ("processing", "encode"), ("processing", "store"), ("succeeded", None)]
    last = published[-1]
    assert (last["job_id"], last["user_id"], last["callback_url"]) == (
        job_id(1), USER, "https://example.com/hook")
    assert last["document"]["seq"] == 6
    assert service.get_job(job_id(1), USER) == last["document"]


def test_the_notifier_hears_only_of_final_jobs_with_a_webhook(service):
    hook = "https://example.com/hook"
    service.create_job(job_id(1), USER, {"format": "png"}, FILES, callback_url=hook)
    service.create_job(job_id(2), USER, {"format": "png"}, FILES)  # no webhook
    service.on_task_started(ref())
    assert not service.dispatch_webhook.called  # not final yet
    service.on_task_succeeded({**ref(), "output": {"format": "png", "width": 1, "height": 1,
                                                   "bytes": 5}})
    service.on_task_failed({**ref(job=2), "error": {"code": "CORRUPT_IMAGE", "message": "x"}})
    (call,) = service.dispatch_webhook.call_args_list
    assert call.args == (JOB_WEBHOOK_DUE, changes(service)[-2])
    assert (call.args[1]["job_id"], call.args[1]["callback_url"]) == (job_id(1), hook)
    assert call.args[1]["document"]["status"] == "succeeded"
    published = len(changes(service))
    # A duplicate (redelivered: the process that handled it may have died
    # between its commit and the webhook): no change, the webhook handed over
    # again, the same document (the notifier keeps one delivery per job).
    service.on_task_succeeded({**ref(), "output": {"format": "png"}})
    assert len(changes(service)) == published
    first, again = service.dispatch_webhook.call_args_list
    assert again.args == first.args
    service.on_task_started(ref())  # not a final event: nothing again
    assert len(service.dispatch_webhook.call_args_list) == 2


def test_late_duplicate_and_stale_reports_publish_nothing(service):
    service.create_job(job_id(1), USER, {"format": "png"}, FILES)
    service.on_task_progress({**ref(), "stage": "encode"})  # before task_started
    service.on_task_started(ref())                         # late: already past decode
    service.on_task_progress({**ref(), "stage": "transform"})  # late
    service.on_task_progress({**ref(), "stage": "encode"})     # duplicate
    service.on_task_failed({**ref(), "error": {"code": "CORRUPT_IMAGE", "message": "x"}})
    service.on_task_progress({**ref(), "stage": "store"})      # after the end
    published = changes(service)
    assert [(p["seq"], p["document"]["tasks"][0]["stage"]) for p in published] == [
        (1, None), (2, "encode"), (3, None)]
    assert published[-1]["document"]["status"] == "failed"


def test_a_new_attempt_starts_over_at_decode(service):
    service.create_job(job_id(1), USER, {"format": "png"}, FILES)
    service.on_task_progress({**ref(), "stage": "encode"})
    service.on_task_started(ref(attempt=2))  # redelivered after a crash
    assert service.get_job(job_id(1), USER)["tasks"][0]["stage"] == "decode"


def test_cancel_is_a_change(service):
    service.create_job(job_id(1), USER, {"format": "png"}, FILES)
    service.cancel_job(job_id(1), USER)
    last = changes(service)[-1]
    assert (last["seq"], last["document"]["status"]) == (2, "cancelled")


def test_queue_positions_move_up_as_the_queue_drains(service):
    for n in (1, 2, 3):
        service.create_job(job_id(n), USER, {"format": "png"}, FILES * 2)
    assert [service.get_job(job_id(n), USER)["queue_position"] for n in (1, 2, 3)] == [0, 2, 4]
    service.dispatch.reset_mock()
    service.on_task_started(ref(job=1))
    service.on_task_started(ref(index=1, job=1))
    service.on_task_started(ref(job=2))
    service.refresh_queue_positions()
    moved = {p["job_id"]: (p["document"]["queue_position"], p["seq"])
             for p in changes(service) if p["document"]["status"] == "queued"}
    assert moved == {job_id(3): (1, 2)}  # job 2 is processing: no position
    assert service.get_job(job_id(2), USER)["queue_position"] is None
    service.dispatch.reset_mock()
    service.refresh_queue_positions()  # nothing moved: nothing published
    assert changes(service) == []


def test_a_failed_dispatch_keeps_the_change(service):
    service.dispatch.side_effect = ConnectionError("broker down")
    doc = service.create_job(job_id(1), USER, {"format": "png"}, FILES)
    service.on_task_started(ref())
    assert doc["status"] == "queued"
    assert service.get_job(job_id(1), USER)["status"] == "processing"


@pytest.mark.parametrize("status, stage, attempts, reported, attempt, expected", [
    ("queued", None, 0, "decode", 1, "decode"),
    ("processing", "decode", 1, "encode", 1, "encode"),
    ("processing", "encode", 1, "transform", 1, None),
    ("processing", "encode", 1, "encode", 1, None),
    ("processing", "store", 1, "decode", 2, "decode"),
    ("processing", "decode", 2, "store", 1, None),
    ("succeeded", None, 1, "store", 1, None),
    ("processing", "decode", 1, "bogus", 1, None),
])
def test_next_stage(status, stage, attempts, reported, attempt, expected):
    assert progress.next_stage(status, stage, attempts, reported, attempt) == expected


def test_queue_positions_count_the_tasks_ahead():
    assert progress.queue_positions([("a", 2), ("b", 1), ("c", 3)]) == {"a": 0, "b": 2, "c": 3}
    assert progress.queue_positions([]) == {}
