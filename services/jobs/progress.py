"""Progress: a processing task's stage, and queue positions. Pure.

A task goes decode -> transform -> encode -> store within one attempt
(contract.STAGES). Stage reports travel as events on their own queues and
may arrive out of order or twice: a stage only moves forward within an
attempt, and a later attempt starts over.
"""
from itertools import accumulate

from convertix.contract import STAGES, TASK_FINAL

RANK = {stage: rank for rank, stage in enumerate(STAGES)}


def next_stage(status, stage, attempts, reported, attempt):
    """The task's stage after a report of `reported` in `attempt`; None: ignore it."""
    if status in TASK_FINAL or reported not in RANK:
        return None
    if attempt > attempts or stage is None:
        return reported
    if attempt == attempts and RANK[reported] > RANK.get(stage, -1):
        return reported
    return None


def queue_positions(queued_tasks_by_job):
    """[(job_id, queued task count)] in queue order -> {job_id: tasks ahead of it}."""
    counts = [count for _, count in queued_tasks_by_job]
    ahead = [0, *accumulate(counts)][:len(counts)]
    return {job_id: position for (job_id, _), position in zip(queued_tasks_by_job, ahead)}
