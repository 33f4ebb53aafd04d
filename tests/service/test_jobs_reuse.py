"""Reused results in the jobs service: worker_factory with the
publisher mocked, on a real database of each kind (SQLite and PostgreSQL,
migrated) and a real storage folder."""
import hashlib
import os

import pytest

from convertix.contract import JOB_CHANGED
from convertix.errors import NotFound

ALICE, BOB = "a" * 32, "b" * 32
PHOTO = b"\x89PNG the same bytes every time"
RESULT = b"converted bytes"


def job_id(n):
    return f"{n:032x}"


def files(data=PHOTO):
    return [{"filename": "photo.png", "format": "png", "bytes": len(data),
             "sha256": hashlib.sha256(data).hexdigest()}]


def submit(service, n, user=ALICE, options=None, data=PHOTO):
    """What the gateway does: the input stored, then create_job."""
    service.storage.write(service.storage.input_path(job_id(n), 0), data)
    return service.create_job(job_id(n), user, options or {"format": "webp", "width": 64},
                              files(data))


def convert(service, n):
    """What a converter does: the output stored, then task_succeeded."""
    service.storage.write(output_path(service, n), RESULT)
    service.on_task_succeeded({"job_id": job_id(n), "index": 0, "attempt": 1, "output": {
        "format": "webp", "width": 64, "height": 48, "bytes": len(RESULT)},
        "input": {"format": "png", "width": 640, "height": 480, "bytes": len(PHOTO)}})


def output_path(service, n):
    return service.storage.output_path(job_id(n), 0, "webp")


def published(service):
    return [c.args[0]["job_id"] for c in service.publish_task.call_args_list]


def test_a_repeat_by_the_same_user_is_the_stored_result_at_once(make_service):
    service = make_service()
    submit(service, 1)
    convert(service, 1)
    service.dispatch.reset_mock()

    # the same bytes, the options spelled otherwise (defaults written out)
    doc = submit(service, 2, options={"format": "WEBP", "width": 64, "quality": 80})
    assert doc["status"] == "succeeded" and doc["queue_position"] is None
    (task,) = doc["tasks"]
    assert task["status"] == "succeeded" and task["reused"] is True and task["attempts"] == 0
    assert task["output"]["bytes"] == len(RESULT) and task["output"]["width"] == 64
    assert task["input"]["width"] == 640
    assert published(service) == [job_id(1)]  # never went to a converter
    with open(output_path(service, 2), "rb") as handle:
        assert handle.read() == RESULT
    assert not os.path.exists(service.storage.input_path(job_id(2), 0))  # final: input gone
    assert service.result_files(job_id(2), ALICE, index=0) == [
        {"index": 0, "filename": "photo.png", "format": "webp"}]
    # its (final) change went out, so waiters and live streams end at once
    (call,) = [c for c in service.dispatch.call_args_list if c.args[0] == JOB_CHANGED]
    assert call.args[1]["document"]["status"] == "succeeded"
    # quota: the reused output counts for the new job too
    assert service.storage_usage(ALICE)["used_bytes"] == 2 * len(RESULT)
    assert service.get_job(job_id(1), ALICE)["tasks"][0]["reused"] is False

    # deleting either job leaves the other's file whole
    service.delete_job(job_id(1), ALICE)
    with open(output_path(service, 2), "rb") as handle:
        assert handle.read() == RESULT
    # ... and a reused result is reused again
    assert submit(service, 3)["tasks"][0]["reused"] is True


def test_never_across_users(make_service):
    service = make_service()
    submit(service, 1, user=ALICE)
    convert(service, 1)
    doc = submit(service, 2, user=BOB)
    assert doc["status"] == "queued" and doc["tasks"][0]["reused"] is False
    assert published(service) == [job_id(1), job_id(2)]
    assert not os.path.exists(output_path(service, 2))


def test_other_options_or_other_bytes_are_converted(make_service):
    service = make_service()
    submit(service, 1)
    convert(service, 1)
    assert submit(service, 2, options={"format": "webp", "width": 65})["status"] == "queued"
    assert submit(service, 3, data=PHOTO + b"!")["status"] == "queued"
    assert published(service) == [job_id(1), job_id(2), job_id(3)]


def test_after_the_first_job_is_deleted_it_is_converted_again(make_service):
    service = make_service()
    submit(service, 1)
    convert(service, 1)
    service.delete_job(job_id(1), ALICE)
    doc = submit(service, 2)
    assert doc["status"] == "queued" and doc["tasks"][0]["reused"] is False
    assert published(service) == [job_id(1), job_id(2)]


def test_when_the_result_file_has_gone_it_is_converted_again(make_service):
    service = make_service()
    submit(service, 1)
    convert(service, 1)
    os.remove(output_path(service, 1))  # as retention or a cancel would
    doc = submit(service, 2)
    assert doc["status"] == "queued" and doc["tasks"][0]["reused"] is False
    assert published(service) == [job_id(1), job_id(2)]
    # once converted again, it is the one reused next time
    convert(service, 2)
    assert submit(service, 3)["tasks"][0]["reused"] is True
    assert published(service) == [job_id(1), job_id(2)]


def test_an_unfinished_or_failed_earlier_task_is_not_reused(make_service):
    service = make_service()
    submit(service, 1)
    assert submit(service, 2)["status"] == "queued"  # the first has not ended yet
    service.on_task_failed({"job_id": job_id(1), "index": 0, "attempt": 1,
                            "error": {"code": "CORRUPT_IMAGE", "message": "bad"}})
    assert submit(service, 3)["status"] == "queued"


def test_switched_off_it_converts_every_time(make_service):
    service = make_service(reuse_results=False)
    submit(service, 1)
    convert(service, 1)
    assert submit(service, 2)["tasks"][0]["reused"] is False
    assert published(service) == [job_id(1), job_id(2)]


def test_a_job_of_reused_and_new_tasks_converts_only_the_new(make_service):
    service = make_service()
    submit(service, 1)
    convert(service, 1)
    other = PHOTO + b" other"
    for index, data in enumerate((PHOTO, other)):
        service.storage.write(service.storage.input_path(job_id(2), index), data)
    doc = service.create_job(job_id(2), ALICE, {"format": "webp", "width": 64},
                             files(PHOTO) + files(other))
    assert doc["status"] == "processing"
    assert [(t["status"], t["reused"]) for t in doc["tasks"]] == [
        ("succeeded", True), ("queued", False)]
    assert [(c.args[0]["job_id"], c.args[0]["index"])
            for c in service.publish_task.call_args_list] == [(job_id(1), 0), (job_id(2), 1)]
    with pytest.raises(NotFound):  # another user sees nothing of it
        service.get_job(job_id(2), BOB)
