"""Retention (docs/DESIGN.md "Quotas and retention"): which jobs have expired.

A final job's inputs go as soon as it is final (the jobs service); its
outputs and its records go `JOBS.retention_s` after its last change, in
batches of `JOBS.retention_batch` per sweep so that one sweep stays short.
"""
from sqlalchemy import delete, func, select, update

from services.jobs import quota, states
from services.jobs.models import Job, Task


def expired(session, cutoff, limit):
    """Ids of final jobs last changed before `cutoff`, oldest first."""
    return list(session.execute(
        select(Job.id).where(Job.status.in_(states.JOB_FINAL), Job.updated_at < cutoff)
        .order_by(Job.updated_at, Job.id).limit(limit)).scalars())  # id: a stable order in ties


def remove(session, job_ids, cutoff):
    """Delete the records (tasks, then jobs: no reliance on ON DELETE CASCADE,
    which SQLite applies only with its foreign_keys pragma) and take their
    bytes off their users' totals; the count removed. Guarded by the cutoff
    again: a job changed meanwhile stays."""
    guard = (Job.id.in_(job_ids), Job.status.in_(states.JOB_FINAL), Job.updated_at < cutoff)
    # Lock them first (their rows in PostgreSQL, the database in SQLite), so
    # that the bytes summed are those of exactly the jobs deleted, even with
    # a DELETE /jobs/<id> of one of them at the same moment.
    session.execute(update(Job).where(*guard).values(seq=Job.seq)
                    .execution_options(synchronize_session=False))
    held = session.execute(  # what quota.counted gives a final job: its outputs
        select(Job.user_id, func.sum(Task.output_bytes)).join(Task)
        .where(*guard, Job.status != states.CANCELLED, Task.status == states.SUCCEEDED)
        .group_by(Job.user_id).order_by(Job.user_id)).all()
    session.execute(delete(Task).where(Task.job_id.in_(select(Job.id).where(*guard)))
                    .execution_options(synchronize_session=False))
    removed = session.execute(delete(Job).where(*guard)
                              .execution_options(synchronize_session=False)).rowcount
    for user_id, total in held:  # in user order: two sweeps never wait on each other
        quota.add(session, user_id, -int(total or 0))
    return removed


def stale_open(session, cutoff, limit):
    """Ids of open jobs (an upload still being read) last changed before
    `cutoff`, oldest first: their gateway died before it sealed or abandoned them."""
    return list(session.execute(
        select(Job.id).where(Job.open.is_(True), Job.updated_at < cutoff)
        .order_by(Job.updated_at, Job.id).limit(limit)).scalars())


def still_stale(job, cutoff):
    """After locking it: still open? Its lock's own write moved updated_at,
    so the tasks' last changes tell (and the job's creation, when it has none newer)."""
    last = max([job.created_at] + [t.updated_at for t in job.tasks])
    return bool(job.open) and last < cutoff


def input_paths(storage, job):
    return [storage.input_path(job.id, task.index) for task in job.tasks]
