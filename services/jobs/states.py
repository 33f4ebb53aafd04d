"""The job/task state machine (SPEC, "Jobs"). Pure tables and functions.

A task moves on events; a final status never changes again, which is what
makes the event handlers idempotent under at-least-once delivery (a
redelivered `task_started` after `task_succeeded` is simply ignored).
A job's status is derived from its tasks' statuses, never set by hand.
"""
from convertix.contract import (  # noqa: F401  (re-exported: the state machine's vocabulary)
    CANCELLED,
    FAILED,
    JOB_FINAL,
    JOB_STATUSES,
    PARTIAL,
    PROCESSING,
    QUEUED,
    SUCCEEDED,
    TASK_FINAL,
)

# event -> (statuses it may move a task from, the status it moves it to)
TASK_TRANSITIONS = {
    "started": (frozenset({QUEUED, PROCESSING}), PROCESSING),
    "succeeded": (frozenset({QUEUED, PROCESSING}), SUCCEEDED),
    "failed": (frozenset({QUEUED, PROCESSING}), FAILED),
    "cancelled": (frozenset({QUEUED, PROCESSING}), CANCELLED),
}

# the set of final task statuses of a finished job -> the job's status
_FINISHED_JOB = {
    frozenset({SUCCEEDED}): SUCCEEDED,
    frozenset({FAILED}): FAILED,
    frozenset({SUCCEEDED, FAILED}): PARTIAL,
}


def next_task_status(current, event):
    """The task's new status after `event`, or None when the event is to be ignored."""
    allowed_from, to = TASK_TRANSITIONS[event]
    return to if current in allowed_from else None


def job_status(task_statuses, open=False):
    """`open`: the upload is still being read, more tasks may come, so the
    job is not done even when every task so far has ended (it is
    processing); only a cancel ends an open job."""
    statuses = frozenset(task_statuses)
    if not statuses:
        return QUEUED
    if statuses <= {QUEUED}:
        return QUEUED
    if not statuses <= TASK_FINAL:
        return PROCESSING
    if CANCELLED in statuses:
        return CANCELLED
    if open:
        return PROCESSING
    return _FINISHED_JOB[statuses]
