"""The jobs service's core: what one event does to a job. Pure.

The service reads the job (locked), hands a snapshot of it and the event to
`on_task_event` (or a new job to `on_created`), and applies the `Change` it
gets back in one place: the task's and job's columns, the quota delta, the
commit, then job_changed, the files to delete and the refill of the user's
queue (docs/DESIGN.md "The jobs service's core"). Nothing here touches a
session, a broker or a file, so every case is a row in a table test
(tests/unit/test_transitions.py).

The rules are those of states.py (a final task never moves again: duplicates
and late events are ignored), progress.py (a stage only moves forward within
an attempt) and quota.py (what a job holds follows from its status).
"""
import dataclasses
from types import MappingProxyType

from convertix.contract import STAGES
from services.jobs import progress, quota, states

# What a task takes from an event's payload: column -> key in the payload's part.
OUTPUT_COLUMNS = (("output_format", "format"), ("output_width", "width"),
                  ("output_height", "height"), ("output_bytes", "bytes"))


@dataclasses.dataclass(frozen=True)
class TaskState:
    """What the core needs of a task record."""
    index: int
    status: str
    stage: str | None = None
    attempts: int = 0
    input_format: str | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class JobState:
    """What the core needs of a job record: its status and its tasks
    (quota.counted reads both), and whether more tasks may come (`open`)."""
    status: str
    tasks: tuple = ()
    open: bool = False

    def task(self, index):
        return next((t for t in self.tasks if t.index == index), None)


@dataclasses.dataclass(frozen=True)
class TaskEvent:
    """One event of the converter about one task.

    `kind`: an event of states.TASK_TRANSITIONS ("started" also for a stage
    report); `stage`: where a started task is now; `attempt`: RabbitMQ's
    delivery count as the payload has it (read only once the event applies,
    as a number, 1 when absent); `input`, `output`, `error`: the payload's parts.
    """
    kind: str
    attempt: object = 1
    stage: str | None = STAGES[0]
    input: dict | None = None
    output: dict | None = None
    error: dict | None = None


@dataclasses.dataclass(frozen=True)
class Change:
    """What to do after an event (or a creation). `applied` False: nothing
    but `drop_output`; the transaction is rolled back."""
    applied: bool = False
    status: str | None = None          # the task's status now; None: no such job or task
    task: MappingProxyType = dataclasses.field(  # task columns to set
        default_factory=lambda: MappingProxyType({}))
    job_status: str | None = None
    clear_queue_position: bool = False  # the job is no longer queued
    quota_delta: int = 0                # bytes the user's total moves by
    announce: bool = False              # job_changed (and a final job's webhook) after the commit
    remove_inputs: bool = False         # the job is final: its inputs go
    drop_output: str | None = None      # a late result's format: its file goes
    refill: bool = False                # a task ended: the user's next tasks may go out
    webhook_again: bool = False         # a final event again: hand the webhook over again


def snapshot(job):
    """A JobState of a job record loaded with its tasks (any object with these attributes)."""
    return JobState(status=job.status, open=bool(getattr(job, "open", False)), tasks=tuple(
        TaskState(index=t.index, status=t.status, stage=t.stage, attempts=t.attempts or 0,
                  input_format=t.input_format, input_bytes=t.input_bytes,
                  output_bytes=t.output_bytes)
        for t in job.tasks))


def event_of(kind, payload, **parts):
    """The TaskEvent of a converter's payload; `parts` override the payload's."""
    fields = {"attempt": payload.get("attempt"), "input": payload.get("input"), **parts}
    return TaskEvent(kind=kind, **fields)


def on_task_event(job, index, event, now):
    """The Change that `event` makes to task `index` of `job` (a JobState, or
    None when there is no such job) at `now`."""
    task = job.task(index) if job else None
    new = states.next_task_status(task.status, event.kind) if task else None
    if new is None:
        return _ignored(task.status if task else None, event)
    attempt = int(event.attempt or 1)
    stage = _stage(task, new, event.stage, attempt)
    if stage is _STALE:
        return _ignored(task.status, event)
    columns = {"status": new, "updated_at": now, "stage": stage,
               # Events of one task travel on different queues and may arrive
               # out of order; the attempt number only grows.
               "attempts": max(task.attempts, attempt),
               **_input_columns(task, event.input), **_output_columns(event.output),
               **_error_columns(event.error)}
    after = _replace_task(job, dataclasses.replace(task, **_known(columns)))
    final_task = new in states.TASK_FINAL
    return Change(applied=True, status=new, task=MappingProxyType(columns),
                  job_status=after.status, clear_queue_position=after.status != states.QUEUED,
                  quota_delta=quota.counted(after) - quota.counted(job), announce=True,
                  remove_inputs=final_task and after.status in states.JOB_FINAL,
                  refill=final_task)


def on_created(job):
    """The Change that recording a new job makes: `job` has its tasks as
    created (queued, or succeeded at once when an earlier result is reused),
    and is `open` when the gateway has more of its upload to read."""
    return on_reshaped(JobState(status=states.QUEUED), job)


def on_reshaped(before, after):
    """The Change of a job that got tasks or was sealed (its upload read to
    the end): `after` is it with its new tasks and openness, its status
    derived again. A sealed job whose tasks have all ended is final now: its
    inputs go and its watchers (and webhook) hear of it; an open one never is."""
    status = states.job_status((t.status for t in after.tasks), open=after.open)
    after = dataclasses.replace(after, status=status)
    return Change(applied=True, job_status=status, clear_queue_position=status != states.QUEUED,
                  quota_delta=quota.counted(after) - quota.counted(before), announce=True,
                  remove_inputs=status in states.JOB_FINAL, refill=True)


def new_tasks(files, first=0):
    """The columns of a new job's tasks, one per file, queued, numbered from `first`."""
    return [{"index": index, "filename": f["filename"][:255], "status": states.QUEUED,
             "attempts": 0, "input_format": f.get("format"), "input_bytes": f.get("bytes")}
            for index, f in enumerate(files, start=first)]


def files_to_add(known_indexes, files, first):
    """[(index, file)] of `files` (numbered from `first`) that the job has no
    task for yet: an addition delivered again (its reply was lost) adds nothing twice."""
    return [(index, f) for index, f in enumerate(files, start=first)
            if index not in known_indexes]


def open_refusal(job, user_id):
    """Why tasks may not be added to (or a seal asked of) this job, or None:
    it must be the user's and still open. An RPC delivered again after the
    seal finds it sealed: the caller answers the job as it is."""
    if job is None or job.user_id != user_id:
        return "no such job"
    if not job.open:
        return "sealed"
    return None


def admitted_bytes(used, files, quota_bytes):
    """The bytes a new job's inputs add; QuotaExceeded (413) past the quota."""
    adding = sum(int(f.get("bytes") or 0) for f in files)
    quota.check(used, adding, quota_bytes)
    return adding


_STALE = object()


def _stage(task, new, reported, attempt):
    """The task's stage after the event; _STALE: a processing task's
    duplicate or late stage report, which changes nothing."""
    if new != states.PROCESSING:
        return None
    stage = progress.next_stage(task.status, task.stage, task.attempts, reported, attempt)
    if stage is None and task.status == states.PROCESSING:
        return _STALE
    return stage or task.stage


# a task's final events, and the status each leaves it in
TASK_FINAL_BY_EVENT = {"succeeded": states.SUCCEEDED, "failed": states.FAILED}


def _ignored(status, event):
    """Not applied. A result that lands after its job was cancelled or
    deleted is dropped; a duplicate of an applied success keeps its file
    (it is the same path). A final event again, for a task already in the
    status it leads to, is RabbitMQ redelivering it: the process that
    applied it may have died before the webhook went to the notifier."""
    output = event.output or {}
    late = status in (None, states.CANCELLED) and output.get("format")
    return Change(status=status, drop_output=output["format"] if late else None,
                  webhook_again=status is not None
                  and status == TASK_FINAL_BY_EVENT.get(event.kind))


def _input_columns(task, info):
    """What the converter found the input to be (absent: unchanged)."""
    if not info:
        return {}
    return {"input_format": info.get("format") or task.input_format,
            "input_width": info.get("width"), "input_height": info.get("height"),
            "input_bytes": info.get("bytes") or task.input_bytes}


def _output_columns(output):
    if not output:
        return {}
    return {column: output.get(key) for column, key in OUTPUT_COLUMNS}


def _error_columns(error):
    if not error:
        return {}
    return {"error_code": error.get("code") or "INTERNAL_ERROR",
            "error_message": error.get("message") or ""}


_TASK_FIELDS = frozenset(field.name for field in dataclasses.fields(TaskState))


def _known(columns):
    return {key: value for key, value in columns.items() if key in _TASK_FIELDS}


def _replace_task(job, task):
    """The job with `task` in place of its namesake and its status derived again."""
    tasks = tuple(task if t.index == task.index else t for t in job.tasks)
    return JobState(status=states.job_status((t.status for t in tasks), open=job.open),
                    tasks=tasks, open=job.open)
