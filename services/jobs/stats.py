"""Read-only summaries of the jobs database, for operators and the scaler."""
import json

from sqlalchemy import func, select

from services.jobs import states
from services.jobs.models import Job, Task

UNFINISHED = (states.QUEUED, states.PROCESSING)


def status_counts(conn):
    """{"jobs": {status: n}, "tasks": {status: n}}: one GROUP BY per table."""
    jobs = dict(conn.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    tasks = dict(conn.execute(select(Task.status, func.count()).group_by(Task.status)).all())
    return {"jobs": jobs, "tasks": tasks}


def pending_work(conn):
    """Unfinished tasks grouped by output format, with their input bytes:
    [{"output_format", "count", "input_bytes"}] (what scaler/cost.py prices)."""
    rows = conn.execute(
        select(Job.options, func.count(), func.coalesce(func.sum(Task.input_bytes), 0))
        .join(Task, Task.job_id == Job.id)
        .where(Task.status.in_(UNFINISHED))
        .group_by(Job.id, Job.options)).all()
    groups = {}
    for options, count, input_bytes in rows:
        fmt = (json.loads(options or "{}") or {}).get("format") or ""
        group = groups.setdefault(fmt, {"output_format": fmt, "count": 0, "input_bytes": 0})
        group["count"] += count
        group["input_bytes"] += int(input_bytes)
    return sorted(groups.values(), key=lambda g: g["output_format"])
