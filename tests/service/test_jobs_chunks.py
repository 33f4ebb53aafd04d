"""Chunks, the jobs service's side (worker_factory, on SQLite and
PostgreSQL): which messages the refill publishes, that fair sharing counts
tasks and not messages, and a dead-lettered chunk failing each of its
unfinished tasks on its own."""
from datetime import timedelta

from sqlalchemy import update

from convertix.contract import task_indexes
from services.jobs.models import Job, Task, utcnow

ALICE = "a" * 32
MB = 1024 * 1024


def job_id(n):
    return f"{n:032x}"


def files(count, size=100):
    return [{"filename": f"{i}.png", "format": "png", "bytes": size} for i in range(count)]


def messages(service):
    """(job id, [indexes]) of each message published, in order."""
    return [(c.args[0]["job_id"], task_indexes(c.args[0]))
            for c in service.publish_task.call_args_list]


def succeeded(job, index, seconds=0.01):
    return {"job_id": job, "index": index, "attempt": 1, "duration_s": seconds,
            "input": {"bytes": 100}, "output": {"format": "png", "width": 1, "height": 1,
                                                "bytes": 10}}


def test_small_tasks_share_a_message_and_the_cap_counts_tasks(make_service):
    service = make_service(max_tasks_in_flight_per_user=6)
    service.config["CONVERTER"]["chunk_max_tasks"] = 4
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(10))
    # 6 tasks on the queue (the cap), in 2 messages: a chunk counts as its tasks
    assert messages(service) == [(job_id(1), [0, 1, 2, 3]), (job_id(1), [4, 5])]
    service.publish_task.reset_mock()
    # one end frees one place: one task, alone
    service.on_task_succeeded(succeeded(job_id(1), 0))
    assert messages(service) == [(job_id(1), [6])]
    # two places free at once (two ends whose refill was missed): a chunk of two
    session = service.db.session
    session.execute(update(Task).where(Task.index.in_((1, 2))).values(status="succeeded"))
    session.execute(update(Job).values(created_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    service.publish_forgotten_tasks()
    assert messages(service) == [(job_id(1), [6]), (job_id(1), [7, 8])]


def test_tasks_of_two_jobs_never_share_a_message(make_service):
    service = make_service(max_tasks_in_flight_per_user=8)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(2))
    service.create_job(job_id(2), ALICE, {"format": "png"}, files(2))
    assert messages(service) == [(job_id(1), [0, 1]), (job_id(2), [0, 1])]


def test_a_large_task_goes_alone(make_service):
    service = make_service(max_tasks_in_flight_per_user=8)
    big = {"filename": "big.png", "format": "png", "bytes": 40 * MB}  # ~14 s by the prior
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(2) + [big] + files(2))
    assert messages(service) == [(job_id(1), [0, 1]), (job_id(1), [2]), (job_id(1), [3, 4])]


def test_what_the_cost_model_learned_makes_chunks_smaller(make_service):
    service = make_service(max_tasks_in_flight_per_user=8)
    for n in range(20):  # the successes applied: 100-byte PNGs that took half a second
        service.conversions.record(succeeded(job_id(1), n, seconds=0.5))
    service.create_job(job_id(2), ALICE, {"format": "png"}, files(4))
    # about 0.48 s each: two per chunk of at most CONVERTER.chunk_max_s (1 s)
    assert messages(service) == [(job_id(2), [0, 1]), (job_id(2), [2, 3])]


def test_a_dead_lettered_chunk_fails_each_unfinished_task(make_service):
    service = make_service(max_tasks_in_flight_per_user=8)
    service.create_job(job_id(1), ALICE, {"format": "png"}, files(3))
    ((_, indexes),) = messages(service)
    assert indexes == [0, 1, 2]
    service.on_task_succeeded(succeeded(job_id(1), 1))

    service.on_dead_letter(service.publish_task.call_args.args[0])

    tasks = service.get_job(job_id(1), ALICE)["tasks"]
    assert [(t["status"], t["attempts"]) for t in tasks] == [
        ("failed", 3), ("succeeded", 1), ("failed", 3)]
    for task in (tasks[0], tasks[2]):
        assert task["error"]["code"] == "INTERNAL_ERROR"
        assert "dead-lettered" in task["error"]["message"]
    assert service.get_job(job_id(1), ALICE)["status"] == "partial"
