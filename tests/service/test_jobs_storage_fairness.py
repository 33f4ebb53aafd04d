"""Quota, retention, DELETE and fair sharing in the jobs service:
worker_factory with the publisher mocked, on a real
database of each kind (SQLite and PostgreSQL, migrated as `make migrate` does)."""
import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from convertix.contract import task_indexes
from convertix.errors import NotFound, QuotaExceeded
from infra import metrics
from services.jobs.models import Job, Task, utcnow

ALICE, BOB = "a" * 32, "b" * 32


def job_id(n):
    return f"{n:032x}"


def files(count, size=100):
    return [{"filename": f"{i}.png", "format": "png", "bytes": size} for i in range(count)]


def output(size):
    return {"format": "png", "width": 1, "height": 1, "bytes": size}


def store_inputs(service, job, count):
    return [service.storage.write(service.storage.input_path(job, i), b"in") for i in range(count)]


def published(service):
    """(job id, index) of each task published, in order, chunks unpacked: the
    cap counts tasks, whatever shares a message."""
    return [(c.args[0]["job_id"], index) for c in service.publish_task.call_args_list
            for index in task_indexes(c.args[0])]


# --- quota and retention ---------------------------------------------------

def test_quota_counts_inputs_then_outputs_and_refuses_past_it(make_service):
    service = make_service(quota_bytes=1000)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(2, size=300))
    assert service.storage_usage(ALICE) == {"used_bytes": 600, "quota_bytes": 1000}
    with pytest.raises(QuotaExceeded) as refused:
        service.create_job(job_id(2), ALICE, {"format": "png"}, files(1, size=401))
    assert refused.value.details == {"used_bytes": 600, "adding_bytes": 401, "quota_bytes": 1000}
    assert refused.value.code == "QUOTA_EXCEEDED"
    with pytest.raises(NotFound):  # nothing recorded
        service.get_job(job_id(2), ALICE)
    assert service.storage_usage(BOB)["used_bytes"] == 0  # per user

    # outputs count as they land; inputs stop counting when the job is final
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(500)})
    assert service.storage_usage(ALICE)["used_bytes"] == 600 + 500  # inputs kept till final
    service.on_task_failed({"job_id": job_id(1), "index": 1, "error": {"code": "CORRUPT_IMAGE"}})
    assert service.storage_usage(ALICE)["used_bytes"] == 500


def test_a_final_job_loses_its_inputs(make_service):
    service = make_service()
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(2))
    inputs = store_inputs(service, job_id(1), 2)
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(5)})
    assert all(os.path.exists(path) for path in inputs)  # task 1 still needs its input
    service.on_task_succeeded({"job_id": job_id(1), "index": 1, "output": output(5)})
    assert not any(os.path.exists(path) for path in inputs)


def test_retention_removes_expired_jobs_files_and_records_in_batches(make_service):
    service = make_service(retention_s=3600, retention_batch=2)
    for n in (1, 2, 3, 4):
        service.create_job(job_id(n), ALICE, {"format": "png"}, files(1))
        result = service.storage.write(service.storage.output_path(job_id(n), 0, "png"), b"out")
        service.on_task_succeeded({"job_id": job_id(n), "index": 0, "output": output(3)})
    session = service.db.session
    # jobs 1-3 ended two hours ago; job 4 just now
    session.execute(update(Job).where(Job.id != job_id(4))
                    .values(updated_at=utcnow() - timedelta(hours=2)))
    session.commit()
    before = metrics.RETENTION_REMOVED.labels("jobs")._value.get()

    assert service.remove_expired_jobs() == 2  # the batch bound
    assert service.remove_expired_jobs() == 1
    assert service.remove_expired_jobs() == 0
    assert metrics.RETENTION_REMOVED.labels("jobs")._value.get() - before == 3
    for n in (1, 2, 3):
        with pytest.raises(NotFound):
            service.get_job(job_id(n), ALICE)
        assert not os.path.exists(service.storage.job_dir(job_id(n)))
    assert session.execute(select(func.count(Task.id))).scalar_one() == 1
    session.commit()
    assert service.get_job(job_id(4), ALICE)["status"] == "succeeded"
    assert os.path.exists(result)
    assert service.storage_usage(ALICE)["used_bytes"] == 3


def test_retention_keeps_unfinished_jobs_however_old(make_service):
    service = make_service(retention_s=1)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(1))
    service.db.session.execute(update(Job).values(updated_at=utcnow() - timedelta(days=30)))
    service.db.session.commit()
    assert service.remove_expired_jobs() == 0
    assert service.get_job(job_id(1), ALICE)["status"] == "queued"


# --- DELETE ---------------------------------------------------------------------

def test_delete_removes_the_job_for_its_owner_and_drops_late_results(make_service):
    service = make_service(quota_bytes=10_000)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(2, size=1000))
    store_inputs(service, job_id(1), 2)
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(2000)})
    service.on_task_started({"job_id": job_id(1), "index": 1})
    with pytest.raises(NotFound):  # another user's: not found, nothing removed
        service.delete_job(job_id(1), BOB)
    assert service.storage_usage(ALICE)["used_bytes"] == 2 * 1000 + 2000

    service.delete_job(job_id(1), ALICE)
    last = service.dispatch.call_args.args[1]
    assert last["document"]["status"] == "cancelled"  # watchers see it end
    for call in (lambda: service.get_job(job_id(1), ALICE),
                 lambda: service.result_files(job_id(1), ALICE),
                 lambda: service.result_files(job_id(1), ALICE, index=0),
                 lambda: service.delete_job(job_id(1), ALICE)):
        with pytest.raises(NotFound):
            call()
    assert service.list_jobs(ALICE)["items"] == []
    assert service.storage_usage(ALICE)["used_bytes"] == 0
    assert not os.path.exists(service.storage.job_dir(job_id(1)))

    # task 1 was converting: its late events resurrect nothing, its file goes
    late = service.storage.write(service.storage.output_path(job_id(1), 1, "png"), b"late")
    service.on_task_progress({"job_id": job_id(1), "index": 1, "stage": "encode"})
    service.on_task_succeeded({"job_id": job_id(1), "index": 1, "output": output(9)})
    assert not os.path.exists(late)
    with pytest.raises(NotFound):
        service.get_job(job_id(1), ALICE)
    assert service.db.session.execute(select(func.count(Task.id))).scalar_one() == 0


# --- fair sharing ---------------------------------------------------------------

def test_a_user_has_at_most_the_cap_on_the_queue_and_the_rest_follow(make_service):
    service = make_service(max_tasks_in_flight_per_user=3)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(5))
    service.create_job(job_id(2), ALICE, {"format": "png"}, files(5))
    assert published(service) == [(job_id(1), i) for i in range(3)]
    doc = service.get_job(job_id(2), ALICE)
    assert doc["status"] == "queued"  # accepted: waiting, not refused

    # Bob's one task goes straight onto the queue, ahead of Alice's backlog
    service.create_job(job_id(3), BOB, {"format": "png"}, files(1))
    assert published(service)[-1] == (job_id(3), 0)

    # each of Alice's ends lets exactly one more of hers out, oldest job first
    service.publish_task.reset_mock()
    service.on_task_started({"job_id": job_id(1), "index": 0})
    assert published(service) == []
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(1)})
    assert published(service) == [(job_id(1), 3)]
    service.on_task_failed({"job_id": job_id(1), "index": 1, "error": {"code": "CORRUPT_IMAGE"}})
    service.delete_job(job_id(1), ALICE)  # 3 of hers were in flight: 3 more
    assert published(service) == [(job_id(1), 3), (job_id(1), 4)] + [
        (job_id(2), i) for i in range(3)]


def test_the_timer_publishes_waiting_tasks_when_an_end_was_missed(make_service):
    service = make_service(max_tasks_in_flight_per_user=2)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(4))
    session = service.db.session
    # as if the process that applied two ends had died before publishing more
    session.execute(update(Task).where(Task.index < 2).values(status="succeeded"))
    session.execute(update(Job).values(created_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    service.publish_task.reset_mock()
    service.publish_forgotten_tasks()
    assert published(service) == [(job_id(1), 2), (job_id(1), 3)]
    service.publish_task.reset_mock()
    service.publish_forgotten_tasks()
    assert published(service) == []


def test_by_default_users_share_the_sandboxes(make_service):
    """No cap configured: one user alone gets the window (2 sandboxes and one
    task ahead of each: 4); once a second user has work, each gets half of
    it as tasks end, so the second's tasks wait behind at most the window."""
    service = make_service()
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(10))
    assert published(service) == [(job_id(1), n) for n in range(4)]
    service.create_job(job_id(2), BOB, {"format": "png"}, files(3))
    assert published(service)[4:] == [(job_id(2), 0), (job_id(2), 1)]  # Bob: share 2 of 4
    service.publish_task.reset_mock()
    # Alice had 4 out; she gets another only once below her share of 2
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(1)})
    service.on_task_succeeded({"job_id": job_id(1), "index": 1, "output": output(1)})
    assert published(service) == []
    service.on_task_succeeded({"job_id": job_id(1), "index": 2, "output": output(1)})
    assert published(service) == [(job_id(1), 4)]
    # Bob's ends let his next out, one at a time
    service.on_task_succeeded({"job_id": job_id(2), "index": 0, "output": output(1)})
    assert published(service) == [(job_id(1), 4), (job_id(2), 2)]


# --- the usage row (services/jobs/quota.py): every path keeps it equal to the SUM -----

def test_every_change_of_a_job_keeps_the_usage_row_equal_to_the_records(make_service):
    from services.jobs import quota

    service = make_service(quota_bytes=10**9, retention_s=3600, retention_batch=100)

    def check():
        session = service.db.session
        used = quota.used_bytes(session, ALICE)
        assert used == quota.recount(session, ALICE)
        session.commit()
        return used

    service.create_job(job_id(1), ALICE, {"format": "png"}, files(3, size=1000))
    assert check() == 3000
    service.on_task_started({"job_id": job_id(1), "index": 0})
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(70)})
    assert check() == 3070
    service.on_task_failed({"job_id": job_id(1), "index": 1,
                            "error": {"code": "CORRUPT_IMAGE", "message": "x"}})
    service.on_task_succeeded({"job_id": job_id(1), "index": 0, "output": output(70)})  # again
    assert check() == 3070
    service.on_task_succeeded({"job_id": job_id(1), "index": 2, "output": output(30)})
    assert check() == 100  # partial, final: its inputs gone, two outputs kept

    service.create_job(job_id(2), ALICE, {"format": "png"}, files(2, size=500))
    service.on_task_succeeded({"job_id": job_id(2), "index": 0, "output": output(9)})
    assert check() == 100 + 1009
    service.cancel_job(job_id(2), ALICE)
    assert check() == 100  # cancelled: nothing counted
    service.on_dead_letter({"job_id": job_id(2), "index": 1})  # late: no change
    assert check() == 100

    service.create_job(job_id(3), ALICE, {"format": "png"}, files(1, size=400))
    service.delete_job(job_id(3), ALICE)
    assert check() == 100

    service.publish_task.side_effect = RuntimeError("broker down")
    with pytest.raises(Exception):
        service.create_job(job_id(4), ALICE, {"format": "png"}, files(1, size=400))
    service.publish_task.side_effect = None
    assert check() == 100  # refused: nothing stays

    service.create_job(job_id(5), BOB, {"format": "png"}, files(1, size=5))
    service.db.session.execute(update(Job).values(updated_at=utcnow() - timedelta(hours=2)))
    service.db.session.commit()
    assert service.remove_expired_jobs() == 2  # jobs 1 and 2 (final); 5 is not
    assert check() == 0
    assert quota.used_bytes(service.db.session, BOB) == 5  # not final: stays
