"""/convert's jobs, recorded from their task's final event (convertix/direct.py).

A /convert task reaches the queue without a job record; its final event (or
its dead letter) carries the record. Within the batch that applies the
event, a job it names that does not exist is created first, as POST /jobs
would have created it (queued, its one task published, its input counted),
and the event then moves it as any task event does: one transaction, so the
job, its result and the user's bytes appear together. The job id, chosen by
the gateway, is the key: an event delivered again finds the job and its
final task, and changes nothing; a job the gateway created meanwhile (its
202 path) is found the same way, and only moved.
"""
import json
from datetime import datetime, timezone

from convertix.direct import RECORD
from services.jobs import reuse, states, transitions
from services.jobs.models import Job, Task


def create_missing(session, items, jobs, now):
    """Add the jobs that `items` ([(payload, event, fields)]) record and that
    are not in `jobs` (those locked and loaded): to the session and to
    `jobs`. {user id: bytes their inputs add} (the caller adds them to the
    users' totals, in its order)."""
    added = {}
    for payload, _event, _fields in items:
        record, job_id = payload.get(RECORD), payload.get("job_id")
        if not isinstance(record, dict) or not isinstance(job_id, str) or job_id in jobs:
            continue
        job = new_job(job_id, record, now)
        session.add(job)
        jobs[job_id] = job
        added[job.user_id] = added.get(job.user_id, 0) + int(record.get("bytes") or 0)
    # Not flushed: the events move the new objects in memory, and the commit
    # inserts them as they end (one INSERT each, not an INSERT then UPDATEs).
    return added


def new_job(job_id, record, now):
    """The job of a /convert task as its gateway handed it over: queued, its
    task on the queue already."""
    options = record.get("options") or {}
    created = _created_at(record.get("created_at")) or now
    job = Job(id=job_id, user_id=record["user_id"], status=states.QUEUED,
              options=json.dumps(options), callback_url=record.get("callback_url"),
              created_at=created, updated_at=now, seq=1, queue_position=None)
    (columns,) = transitions.new_tasks([record])
    job.tasks = [Task(**columns, published=True, updated_at=now,
                      reuse_key=reuse.reuse_key(job.user_id, record.get("sha256"), options))]
    return job


def _created_at(epoch):
    """The request's time (the gateway's clock, epoch seconds) as the
    records keep it (naive UTC); None if there is none."""
    try:
        return datetime.fromtimestamp(float(epoch), timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
