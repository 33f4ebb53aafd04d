"""Fair sharing of the conversion queue (docs/DESIGN.md "Fair sharing").

At most `cap` tasks of one user are on the queue (published, not final) at a
time; the rest wait in the database, unpublished, and the next ones go out
as the user's earlier tasks end. The queue itself stays first come, first
served, but it never holds more than `cap` tasks of anyone, so a user with
one task waits behind at most `cap` tasks of each other active user rather
than behind a whole backlog. Each user's tasks go out oldest job first.
"""
from eventlet.semaphore import Semaphore
from sqlalchemy import func, select

from services.jobs import states
from services.jobs.models import Job, Task

IN_FLIGHT = (states.QUEUED, states.PROCESSING)

# One refill of a user at a time in this process (green locks: nameko's eventlet):
# two concurrent refills would both pick the same unpublished tasks and
# publish them twice. Across jobs processes that can still happen (harmless,
# only wasted work). A fixed pool: the set of users is not kept.
_LOCKS = [Semaphore(1) for _ in range(64)]


def user_lock(user_id):
    return _LOCKS[hash(user_id) % len(_LOCKS)]


def next_tasks(session, user_id, cap, created_before=None):
    """(task id, job id, index, options JSON) of the user's tasks to publish now.

    The waiting tasks first: most calls (a task ended, nothing of its user
    waits) then cost one query, not two."""
    query = (select(Task.id, Task.job_id, Task.index, Job.options).join(Job)
             .where(Job.user_id == user_id, Task.published.is_(False),
                    Task.status == states.QUEUED))
    if created_before is not None:
        query = query.where(Job.created_at < created_before)
    waiting = session.execute(
        query.order_by(Job.created_at, Job.id, Task.index).limit(cap)).all()
    if not waiting:
        return []
    in_flight = session.execute(
        select(func.count(Task.id)).join(Job)
        .where(Job.user_id == user_id, Task.published.is_(True),
               Task.status.in_(IN_FLIGHT))).scalar_one()
    return waiting[:max(0, cap - in_flight)]


def waiting_users(session, created_before):
    """Users with unpublished queued tasks in jobs created before the cutoff."""
    return list(session.execute(
        select(Job.user_id).join(Task)
        .where(Task.published.is_(False), Task.status == states.QUEUED,
               Job.created_at < created_before).distinct()).scalars())
