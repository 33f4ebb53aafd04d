"""Open jobs (docs/DESIGN.md "Uploads overlap conversion"): a job made as
its upload's first file is stored, grown by add_tasks, sealed by seal_job,
or abandoned. worker_factory with the publisher and dispatchers mocked, on
a real database of each kind (SQLite and PostgreSQL, migrated)."""
import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from convertix.contract import JOB_WEBHOOK_DUE
from convertix.errors import ConvertixError, NotFound, QuotaExceeded
from services.jobs.models import Job, Task, utcnow

ALICE = "a" * 32
JOB = "0123456789abcdef0123456789abcdef"
HOOK = "https://example.com/hook"


def files(count, size=100, first=0):
    return [{"filename": f"{i}.png", "format": "png", "bytes": size}
            for i in range(first, first + count)]


def output(size=7):
    return {"format": "png", "width": 1, "height": 1, "bytes": size}


def published(service):
    return [c.args[0]["index"] for c in service.publish_task.call_args_list]


def webhooks(service):
    return [c for c in service.dispatch_webhook.call_args_list if c.args[0] == JOB_WEBHOOK_DUE]


def succeed(service, *indexes):
    for index in indexes:
        service.on_task_succeeded({"job_id": JOB, "index": index, "output": output()})


def test_an_open_job_grows_converts_and_ends_only_once_sealed(make_service):
    service = make_service(max_tasks_in_flight_per_user=100)
    doc = service.create_job(JOB, ALICE, {"format": "png"}, files(1), open=True)
    assert doc["status"] == "queued" and published(service) == [0]
    assert service.list_jobs(ALICE)["items"] == []  # an upload still read is no job yet
    inputs = [service.storage.write(service.storage.input_path(JOB, i), b"in") for i in range(3)]

    succeed(service, 0)
    # every task so far has ended, but more may come: not final, no webhook, inputs kept
    assert service.get_job(JOB, ALICE)["status"] == "processing"
    assert all(os.path.exists(path) for path in inputs) and webhooks(service) == []

    doc = service.add_tasks(JOB, ALICE, files(1, first=1), 1)
    again = service.add_tasks(JOB, ALICE, files(1, first=1), 1)  # delivered twice: once
    assert [t["index"] for t in doc["tasks"]] == [t["index"] for t in again["tasks"]] == [0, 1]
    doc = service.seal_job(JOB, ALICE, files(1, first=2), 2, callback_url=HOOK,
                           deadline=time.time() + 30)
    assert [t["filename"] for t in doc["tasks"]] == ["0.png", "1.png", "2.png"]
    assert doc["callback_url"] == HOOK and published(service) == [0, 1, 2]
    assert [job["id"] for job in service.list_jobs(ALICE)["items"]] == [JOB]
    assert service.seal_job(JOB, ALICE, files(1, first=2), 2)["tasks"] == doc["tasks"]

    succeed(service, 1, 2)
    assert service.get_job(JOB, ALICE)["status"] == "succeeded"
    assert len(webhooks(service)) == 1 and not any(os.path.exists(p) for p in inputs)
    # sealed: an addition (delivered late) adds nothing, the job as it is
    assert len(service.add_tasks(JOB, ALICE, files(1, first=3), 3)["tasks"]) == 3
    assert len(service.get_job(JOB, ALICE)["tasks"]) == 3 and published(service) == [0, 1, 2]


def test_a_job_sealed_after_its_tasks_ended_is_final_at_once(make_service):
    service = make_service()
    service.create_job(JOB, ALICE, {"format": "png"}, files(2), open=True)
    succeed(service, 0, 1)
    assert service.get_job(JOB, ALICE)["status"] == "processing"
    assert service.seal_job(JOB, ALICE, callback_url=HOOK)["status"] == "succeeded"
    assert len(webhooks(service)) == 1
    assert service.storage_usage(ALICE)["used_bytes"] == 14  # outputs only: inputs gone


def test_quota_is_checked_on_each_addition(make_service):
    service = make_service(quota_bytes=1000)
    service.create_job(JOB, ALICE, {"format": "png"}, files(2, size=300), open=True)
    service.add_tasks(JOB, ALICE, files(1, size=300, first=2), 2)
    assert service.storage_usage(ALICE)["used_bytes"] == 900
    with pytest.raises(QuotaExceeded) as refused:
        service.add_tasks(JOB, ALICE, files(1, size=101, first=3), 3)
    assert refused.value.details == {"used_bytes": 900, "adding_bytes": 101, "quota_bytes": 1000}
    assert len(service.get_job(JOB, ALICE)["tasks"]) == 3  # nothing added
    assert service.storage_usage(ALICE)["used_bytes"] == 900


def test_an_abandoned_job_leaves_no_task_file_record_or_byte(make_service):
    service = make_service(max_tasks_in_flight_per_user=100)
    service.create_job(JOB, ALICE, {"format": "png"}, files(3), open=True)
    service.storage.write(service.storage.input_path(JOB, 0), b"in")
    result = service.storage.write(service.storage.output_path(JOB, 0, "png"), b"out")
    succeed(service, 0)
    service.on_task_started({"job_id": JOB, "index": 1})

    assert service.abandon_job(JOB, ALICE) is True
    with pytest.raises(NotFound):
        service.get_job(JOB, ALICE)
    assert not os.path.exists(service.storage.job_dir(JOB))
    assert service.storage_usage(ALICE)["used_bytes"] == 0
    # a task still converting then lands: its result is dropped
    late = service.storage.write(service.storage.output_path(JOB, 1, "png"), b"late")
    service.on_task_succeeded({"job_id": JOB, "index": 1, "output": output()})
    assert not os.path.exists(late) and not os.path.exists(result)
    assert service.abandon_job(JOB, ALICE) is False  # again: nothing to do
    assert service.abandon_job(JOB, "b" * 32) is False
    with pytest.raises(NotFound):  # a late addition finds no job
        service.add_tasks(JOB, ALICE, files(1, first=3), 3)


def test_a_late_seal_is_refused_and_leaves_the_job_open(make_service):
    service = make_service()
    service.create_job(JOB, ALICE, {"format": "png"}, files(1), open=True)
    with pytest.raises(ConvertixError) as refused:
        service.seal_job(JOB, ALICE, files(1, first=1), 1, deadline=time.time() - 1)
    assert refused.value.code == "BACKEND_UNAVAILABLE"
    assert len(service.get_job(JOB, ALICE)["tasks"]) == 1
    assert service.list_jobs(ALICE)["items"] == []


def test_an_open_job_its_gateway_left_is_removed_by_the_timer(make_service):
    service = make_service(open_job_timeout_s=600, retention_s=3600)
    old, fresh = JOB, "f" * 32
    service.create_job(old, ALICE, {"format": "png"}, files(2), open=True)
    service.create_job(fresh, ALICE, {"format": "png"}, files(1), open=True)
    service.storage.write(service.storage.input_path(old, 0), b"in")
    session = service.db.session
    long_ago = utcnow() - timedelta(hours=2)
    session.execute(update(Job).where(Job.id == old).values(created_at=long_ago,
                                                            updated_at=long_ago))
    session.execute(update(Task).where(Task.job_id == old).values(updated_at=long_ago))
    session.commit()

    service.remove_expired_jobs()
    with pytest.raises(NotFound):
        service.get_job(old, ALICE)
    assert not os.path.exists(service.storage.job_dir(old))
    assert service.get_job(fresh, ALICE)["status"] == "queued"  # still being uploaded
    assert service.storage_usage(ALICE)["used_bytes"] == 100
