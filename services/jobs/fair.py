"""Fair sharing of the conversion queue (docs/DESIGN.md "Fair sharing").

At most `cap` tasks of one user are on the queue (published, not final) at a
time (JOBS.max_tasks_in_flight_per_user, or by default `share()` of the
sandboxes consuming the queue among the users with work); the rest wait in
the database, unpublished, and the next ones go out as the user's earlier
tasks end. The queue itself stays first come, first
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
# publish them twice. A fixed pool: the set of users is not kept.
_LOCKS = [Semaphore(1) for _ in range(64)]
# Across jobs processes (the stack runs two): PostgreSQL's advisory lock on
# (this key, the user id's hash), held until the refill's transaction ends.
REFILL_LOCK_KEY = 0x66616972  # "fair"


def user_lock(user_id):
    return _LOCKS[hash(user_id) % len(_LOCKS)]


def lock_user(session, user_id):
    """Wait for, then hold until the transaction ends, the user's refill lock
    across processes. None on SQLite: it serves one jobs process (the stack
    runs PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(REFILL_LOCK_KEY,
                                                          func.hashtext(user_id))))


def share(sandboxes, users, ahead=0):
    """The cap per user when none is configured: the window of the sandboxes
    consuming the queue, divided among the users with work (at least 1
    each). The window is one task per sandbox plus `ahead` more per sandbox
    (CONVERTER.tasks_ahead_per_sandbox), which the converters hold ready: a
    user alone keeps every sandbox busy without a round trip between two
    tasks, and a newcomer's task waits behind at most that window, not
    behind a backlog. No sandbox known (none consuming yet): as if one."""
    window = max(1, sandboxes) * (1 + ahead)
    return max(1, window // max(1, users))


def active_users(session):
    """Users with an unfinished task (published or waiting)."""
    return session.execute(
        select(func.count(Job.user_id.distinct())).select_from(Task).join(Job)
        .where(Task.status.in_(IN_FLIGHT))).scalar_one()


def next_tasks(session, user_id, cap, created_before=None, most=None):
    """(task id, job id, index, options JSON, input bytes, input format) of
    the user's tasks to publish now; counted in tasks, however many share a
    message (services/jobs/chunks.py).

    `cap`: an int, or a function of the session giving it; `most`: what the
    cap can be at most (default: the cap, worked out first). The waiting tasks,
    at most `most` of them, are read first: most calls (a task ended,
    nothing of its user waits) then cost one query, and the cap and what is
    in flight are worked out only when something waits."""
    query = (select(Task.id, Task.job_id, Task.index, Job.options, Task.input_bytes,
                    Task.input_format).join(Job)
             .where(Job.user_id == user_id, Task.published.is_(False),
                    Task.status == states.QUEUED))
    if created_before is not None:
        query = query.where(Job.created_at < created_before)
    if most is None:  # no bound given: the cap itself is it
        cap = most = cap(session) if callable(cap) else cap
    waiting = session.execute(query.order_by(Job.created_at, Job.id, Task.index)
                              .limit(max(1, most))).all()
    if not waiting:
        return []
    cap = cap(session) if callable(cap) else cap
    in_flight = session.execute(
        select(func.count(Task.id)).join(Job)
        .where(Job.user_id == user_id, Task.published.is_(True),
               Task.status.in_(IN_FLIGHT))).scalar_one()
    return waiting[:max(0, min(cap, most) - in_flight)]


def waiting_users(session, created_before):
    """Users with unpublished queued tasks in jobs created before the cutoff."""
    return list(session.execute(
        select(Job.user_id).join(Task)
        .where(Task.published.is_(False), Task.status == states.QUEUED,
               Job.created_at < created_before).distinct()).scalars())
