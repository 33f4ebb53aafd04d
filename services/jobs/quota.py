"""A user's stored bytes, counted from the records (no counter to drift).

What is on disk for a job follows from its status: inputs stay until the job
is final (then the jobs service removes them), outputs of succeeded tasks
stay until retention removes the job. A deleted job has no records left, so
it counts nothing. One SUM over the user's tasks (ix_jobs_user_created).
"""
from sqlalchemy import case, func, select

from convertix.errors import QuotaExceeded
from services.jobs import states
from services.jobs.models import Job, Task


def used_bytes(session, user_id):
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
