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

from sqlalchemy import insert as sql_insert
from sqlalchemy import inspect as sa_inspect

from convertix.direct import RECORD
from services.jobs import reuse, states, transitions
from services.jobs.models import Job, Task


def create_missing(items, jobs, now):
    """Make the jobs that `items` ([(payload, event, fields)]) record and that
    are not in `jobs` (those locked and loaded), and put them in `jobs`.
    ({user id: bytes their inputs add}, [the new jobs]): the caller adds the
    bytes to the users' totals, in its order, and inserts the jobs (`insert`)
    once the events have moved them."""
    added, made = {}, []
    for payload, _event, _fields in items:
        record, job_id = payload.get(RECORD), payload.get("job_id")
        if not isinstance(record, dict) or not isinstance(job_id, str) or job_id in jobs:
            continue
        job = new_job(job_id, record, now)
        jobs[job_id] = job
        made.append(job)
        added[job.user_id] = added.get(job.user_id, 0) + int(record.get("bytes") or 0)
    return added, made


def insert(session, made):
    """The new jobs and their tasks as they are now (the events moved them in
    memory): one INSERT of jobs and one of tasks per set of columns (see
    `_alike`), whatever their number.

    Core inserts of the objects' values, not the ORM's flush: the unit of
    work costs about three times as much for a job and its task (0.51 against
    0.15 ms here), on every /convert. The objects stay outside the session;
    what follows the commit (the document, the inputs' removal) reads them
    from memory."""
    for model, rows in ((Job, [_columns(job) for job in made]),
                        (Task, [{**_columns(task), "job_id": job.id}
                                for job in made for task in job.tasks])):
        for group in _alike(rows):
            session.execute(sql_insert(model.__table__), group)


def _alike(rows):
    """`rows` in groups with the same columns: one INSERT of many rows takes
    its columns from the first (a succeeded task has output columns, a
    failed one error columns; a missing value would fail the statement, an
    extra one be dropped)."""
    groups = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def _columns(obj):
    """{column name: value} of the attributes set on `obj`; those not set
    are left to the columns' defaults (the task's id among them)."""
    values = sa_inspect(obj).dict
    return {column.name: values[attr.key] for attr in sa_inspect(type(obj)).column_attrs
            for column in attr.columns if attr.key in values}


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
