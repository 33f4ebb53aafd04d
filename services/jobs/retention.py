"""Retention (docs/DESIGN.md "Quotas and retention"): which jobs have expired.

A final job's inputs go as soon as it is final (the jobs service); its
outputs and its records go `JOBS.retention_s` after its last change, in
batches of `JOBS.retention_batch` per sweep so that one sweep stays short.
"""
from sqlalchemy import delete, select

from services.jobs import states
from services.jobs.models import Job, Task


def expired(session, cutoff, limit):
    """Ids of final jobs last changed before `cutoff`, oldest first."""
    return list(session.execute(
        select(Job.id).where(Job.status.in_(states.JOB_FINAL), Job.updated_at < cutoff)
        .order_by(Job.updated_at).limit(limit)).scalars())


def remove(session, job_ids, cutoff):
    """Delete the records (tasks, then jobs: no reliance on ON DELETE CASCADE,
    which SQLite applies only with its foreign_keys pragma); the count removed.
    Guarded by the cutoff again: a job changed meanwhile stays."""
    still = select(Job.id).where(Job.id.in_(job_ids), Job.status.in_(states.JOB_FINAL),
                                 Job.updated_at < cutoff)
    session.execute(delete(Task).where(Task.job_id.in_(still)).execution_options(
        synchronize_session=False))
    return session.execute(
        delete(Job).where(Job.id.in_(job_ids), Job.status.in_(states.JOB_FINAL),
                          Job.updated_at < cutoff)
        .execution_options(synchronize_session=False)).rowcount


def input_paths(storage, job):
    return [storage.input_path(job.id, task.index) for task in job.tasks]
