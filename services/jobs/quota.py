"""A user's stored bytes, and the quota check.

What is on disk for a job follows from its status: inputs stay until the job
is final (then the jobs service removes them), outputs of succeeded tasks
stay until retention removes the job; a cancelled or deleted job counts
nothing. `counted(job)` says that for one job.

The user's total is one row (`storage_usage`), moved by `counted` after
minus before, in the same transaction as every change of a job (create,
task events, cancel, delete, retention): a crash loses the change and its
delta together. It was a SUM over all of the user's tasks at every job
creation: 1.1 ms with 1,000 jobs kept, 12.8 ms with 10,000, 112 ms with
50,000, on the jobs process's hub (`python -m bench.quota`). `recount` is that SUM, kept as the
reference the tests hold the row to (and the migration's starting value).
"""
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from convertix.errors import QuotaExceeded
from services.jobs import states
from services.jobs.models import Job, StorageUsage, Task

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def counted(job):
    """The bytes `job` (loaded with its tasks) holds in storage now."""
    if job.status == states.CANCELLED:
        return 0
    outputs = sum(t.output_bytes or 0 for t in job.tasks if t.status == states.SUCCEEDED)
    inputs = 0 if job.status in states.JOB_FINAL else sum(t.input_bytes or 0 for t in job.tasks)
    return outputs + inputs


def used_bytes(session, user_id):
    used = session.execute(
        select(StorageUsage.used_bytes).where(StorageUsage.user_id == user_id)).scalar()
    return int(used or 0)


def lock(session, user_id):
    """The user's stored bytes, their row locked until the transaction ends.

    SELECT ... FOR UPDATE: a job creation for the same user in another
    transaction (another worker, another jobs process) waits here until this
    one commits or rolls back, then reads the total it left, so the bytes
    admitted never add up past the quota. The row is made first when missing
    (a user's first job), as there is nothing to lock otherwise; a concurrent
    maker of it waits for ours. On SQLite FOR UPDATE is left out (SQLAlchemy
    knows SQLite has none) and that INSERT takes the database's write lock,
    which serialises creations the same way.
    """
    insert = _INSERTS[session.get_bind().dialect.name](StorageUsage)
    session.execute(insert.values(user_id=user_id, used_bytes=0)
                    .on_conflict_do_nothing(index_elements=[StorageUsage.user_id]))
    return int(session.execute(
        select(StorageUsage.used_bytes).where(StorageUsage.user_id == user_id)
        .with_for_update()).scalar_one())


def add(session, user_id, delta):
    """Move the user's total by `delta` (in the caller's transaction): one
    upsert, which also makes the row at the user's first job."""
    if not delta:
        return
    insert = _INSERTS[session.get_bind().dialect.name](StorageUsage)
    session.execute(insert.values(user_id=user_id, used_bytes=delta).on_conflict_do_update(
        index_elements=[StorageUsage.user_id],
        set_={"used_bytes": StorageUsage.used_bytes + delta}))


def recount(session, user_id):
    """The user's stored bytes summed from the records (the reference)."""
    inputs = case((Job.status.in_(states.JOB_FINAL), 0), else_=func.coalesce(Task.input_bytes, 0))
    outputs = case((Task.status == states.SUCCEEDED, func.coalesce(Task.output_bytes, 0)),
                   else_=0)
    total = session.execute(
        select(func.coalesce(func.sum(inputs + outputs), 0)).select_from(Task).join(Job)
        .where(Job.user_id == user_id, Job.status != states.CANCELLED)).scalar_one()
    return int(total)


def check(used, adding, quota):
    """Refuse a job whose inputs would take the user past the quota (413)."""
    if used + adding > quota:
        raise QuotaExceeded(
            f"storage quota exceeded: {used} bytes stored, {adding} more asked, {quota} allowed",
            details={"used_bytes": used, "adding_bytes": adding, "quota_bytes": quota})
