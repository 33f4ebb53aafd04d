"""Benchmark: the quota check against a user's history, the SUM over the
records (as it was) and the usage row (as it is), side by side in one run.

    python -m bench.quota                       # SQLite file in a temporary folder
    python -m bench.quota --db-url postgresql://...   # an empty database of your own

For each history size, the user's jobs (one succeeded task each, as
`/convert` leaves them) are inserted, then both ways of reading the user's
stored bytes are timed, and the jobs service's own work per `/convert` task
(`create_job` + `on_task_succeeded`, under worker_factory with the broker
mocked: the database work and the service's code, no AMQP).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

from nameko.testing.services import worker_factory
from nameko_sqlalchemy.database import DatabaseWrapper
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import sessionmaker

from convertix.storage import Storage
from infra import migrations
from services.jobs import quota
from services.jobs.models import Job, Task, utcnow
from services.jobs.service import JobsService

USER = "bench" + "0" * 27
FILES = [{"filename": "b.jpg", "format": "jpeg", "bytes": 1_048_031}]
OUTPUT = {"format": "jpeg", "width": 256, "height": 144, "bytes": 9_000}


def grow(session, jobs):
    """Add `jobs` succeeded one-task jobs to the user's history."""
    now = utcnow()
    rows = [{"id": uuid.uuid4().hex, "user_id": USER, "status": "succeeded", "options": "{}",
             "created_at": now, "updated_at": now, "seq": 2} for _ in range(jobs)]
    session.execute(insert(Job), rows)
    session.execute(insert(Task), [
        {"job_id": r["id"], "index": 0, "filename": "b.jpg", "status": "succeeded",
         "attempts": 1, "published": True, "input_bytes": FILES[0]["bytes"],
         "output_bytes": OUTPUT["bytes"], "updated_at": now} for r in rows])
    quota.add(session, USER, jobs * OUTPUT["bytes"])
    session.commit()


def timed_ms(call, repeat):
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def task_cpu_ms(service, tasks):
    def one():
        job_id = uuid.uuid4().hex
        service.create_job(job_id, USER, {"format": "jpeg", "width": 256}, FILES)
        service.on_task_succeeded({"job_id": job_id, "index": 0, "attempt": 1,
                                   "output": OUTPUT})
    t0 = time.process_time()
    for _ in range(tasks):
        one()
    return (time.process_time() - t0) * 1000 / tasks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", help="an empty database; default: a SQLite file")
    parser.add_argument("--sizes", default="1000,10000,50000", help="history sizes, in jobs")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="bench-quota-")
    url = args.db_url or f"sqlite:///{folder}/jobs.db"
    migrations.upgrade({"jobs": url})
    engine = create_engine(url)
    service = worker_factory(
        JobsService, db=DatabaseWrapper(sessionmaker(bind=engine, expire_on_commit=False)),
        storage=Storage(os.path.join(folder, "storage")),
        config={"CONVERTER": {"max_attempts": 3},
                "JOBS": {"reuse_results": False, "max_tasks_in_flight_per_user": 2}})
    session = service.db.session
    print(f"database: {engine.dialect.name}; median of {args.repeat} reads")
    print("| user's history (jobs) | SUM over the records, ms | usage row, ms | ratio "
          "| jobs service per /convert task, ms CPU |")
    print("|---|---|---|---|---|")
    history = 0
    for size in (int(s) for s in args.sizes.split(",")):
        grow(session, size - history)
        history = size
        assert quota.recount(session, USER) == quota.used_bytes(session, USER)
        summed = timed_ms(lambda: quota.recount(session, USER), args.repeat)
        row = timed_ms(lambda: quota.used_bytes(session, USER), args.repeat)
        session.commit()
        cpu = task_cpu_ms(service, 100)
        history += 100
        print(f"| {size} | {summed:.2f} | {row:.3f} | {summed / row:.0f}x | {cpu:.1f} |")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
