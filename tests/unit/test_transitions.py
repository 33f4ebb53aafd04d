"""The jobs service's core (services/jobs/transitions.py): tables of a job's
state, an event, and the change expected."""
import itertools
import types
from datetime import datetime

import pytest

from convertix.errors import QuotaExceeded
from services.jobs.states import job_status
from services.jobs.transitions import (
    JobState,
    TaskEvent,
    TaskState,
    admitted_bytes,
    event_of,
    files_to_add,
    new_tasks,
    on_created,
    on_reshaped,
    on_task_event,
    open_refusal,
)

NOW = datetime(2026, 1, 2, 3, 4, 5)
STATUSES = ("queued", "processing", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")
OUT = {"format": "webp", "width": 4, "height": 3, "bytes": 50}
ERR = {"code": "CORRUPT_IMAGE", "message": "bad"}

# The converter's events as the service's handlers make them.
EVENTS = {
    "started": TaskEvent("started"),
    "progress": TaskEvent("started", stage="encode"),
    "succeeded": TaskEvent("succeeded", output=OUT),
    "failed": TaskEvent("failed", error=ERR),
    "dead-lettered": TaskEvent("failed", attempt=3, error={"code": "INTERNAL_ERROR",
                                                           "message": "dead-lettered"}),
}


def task(status="queued", index=0, stage=None, attempts=0, input_bytes=100, output_bytes=None):
    if status == "processing" and stage is None:
        stage, attempts = "decode", max(attempts, 1)
    if status == "succeeded" and output_bytes is None:
        output_bytes = 10
    return TaskState(index=index, status=status, stage=stage, attempts=attempts,
                     input_format="png", input_bytes=input_bytes, output_bytes=output_bytes)


def job(*tasks):
    return JobState(status=job_status(t.status for t in tasks), tasks=tasks)


# --- every event on every status of a one-task job ------------------------------------

# (event, the task's status) -> its status after; None: ignored (a final task never moves)
MATRIX = {
    ("started", "queued"): "processing",
    ("started", "processing"): None,        # a redelivered start: nothing new
    ("progress", "queued"): "processing",   # the start's event not seen yet
    ("progress", "processing"): "processing",
    ("succeeded", "queued"): "succeeded",
    ("succeeded", "processing"): "succeeded",
    ("failed", "queued"): "failed",
    ("failed", "processing"): "failed",
    ("dead-lettered", "queued"): "failed",
    ("dead-lettered", "processing"): "failed",
    **{(event, status): None for event in EVENTS for status in FINAL},
}


@pytest.mark.parametrize("event, status", sorted(MATRIX))
def test_every_event_on_every_status(event, status):
    before = job(task(status))
    change = on_task_event(before, 0, EVENTS[event], NOW)
    expected = MATRIX[event, status]
    assert change.applied is (expected is not None)
    assert change.status == (expected or status)
    if expected is None:  # nothing to write, send or remove (a late result aside)
        assert (change.task, change.quota_delta, change.announce, change.remove_inputs,
                change.refill) == ({}, 0, False, False, False)
        return
    assert change.task["status"] == expected
    assert change.task["updated_at"] == NOW
    assert change.job_status == expected  # one task: the job follows it
    assert change.announce
    ends = expected in FINAL
    assert (change.refill, change.remove_inputs, change.clear_queue_position) == (ends, ends, True)


def test_the_matrix_covers_every_event_and_status():
    assert set(MATRIX) == set(itertools.product(EVENTS, STATUSES))


# --- what a change writes, keeps and removes -----------------------------------------------

# (tasks before, index, event, job status after, quota delta, inputs removed, refill)
JOB_CHANGES = [
    # the last task succeeds: the job is final, its inputs go, its outputs stay
    ((task("processing"),), 0, EVENTS["succeeded"], "succeeded", 50 - 100, True, True),
    # one of two succeeds: inputs still needed, the output counts at once
    ((task("processing"), task(index=1, input_bytes=200)), 0, EVENTS["succeeded"],
     "processing", 50, False, True),
    # the last one fails after another succeeded: partial, inputs go
    ((task("succeeded", output_bytes=30), task("processing", index=1, input_bytes=200)), 1,
     EVENTS["failed"], "partial", -300, True, True),
    # the last one succeeds after another failed: partial
    ((task("failed"), task("processing", index=1, input_bytes=200)), 1,
     EVENTS["succeeded"], "partial", 50 - 300, True, True),
    # every task failed: nothing stays
    ((task("failed"), task(index=1, input_bytes=200)), 1, EVENTS["dead-lettered"],
     "failed", -300, True, True),
    # a task ends in a job with a cancelled task: cancelled, which holds nothing
    ((task("cancelled"), task("processing", index=1)), 1, EVENTS["succeeded"],
     "cancelled", -200, True, True),
    # a start moves nothing stored and refills nothing
    ((task(), task(index=1)), 0, EVENTS["started"], "processing", 0, False, False),
    ((task("processing"), task(index=1)), 0, EVENTS["progress"], "processing", 0, False, False),
]


@pytest.mark.parametrize("tasks, index, event, status, delta, removed, refill", JOB_CHANGES)
def test_job_status_quota_files_and_refill(tasks, index, event, status, delta, removed, refill):
    change = on_task_event(job(*tasks), index, event, NOW)
    assert (change.job_status, change.quota_delta, change.remove_inputs, change.refill) == (
        status, delta, removed, refill)
    assert change.clear_queue_position is (status != "queued")


def test_the_queue_position_goes_once_the_job_is_no_longer_queued():
    change = on_task_event(job(task(), task(index=1)), 0, EVENTS["started"], NOW)
    assert change.clear_queue_position
    assert on_created(job(task(), task(index=1))).clear_queue_position is False


# (event, the task's columns set, among others)
COLUMNS = [
    (EVENTS["succeeded"], {"output_format": "webp", "output_width": 4, "output_height": 3,
                           "output_bytes": 50, "stage": None}),
    (EVENTS["failed"], {"error_code": "CORRUPT_IMAGE", "error_message": "bad", "stage": None}),
    (TaskEvent("failed", error={}), {"status": "failed"}),  # no error given: none recorded
    (TaskEvent("failed", error={"message": "m"}),
     {"error_code": "INTERNAL_ERROR", "error_message": "m"}),
    (TaskEvent("failed", error={"code": "X"}), {"error_code": "X", "error_message": ""}),
    (TaskEvent("succeeded", output={}), {"status": "succeeded"}),  # no output: none recorded
    # what the converter found the input to be; a missing format or size keeps the gateway's
    (TaskEvent("started", input={"format": "jpeg", "width": 8, "height": 6, "bytes": 120}),
     {"input_format": "jpeg", "input_width": 8, "input_height": 6, "input_bytes": 120}),
    (TaskEvent("started", input={"width": 8}),
     {"input_format": "png", "input_width": 8, "input_height": None, "input_bytes": 100}),
]


@pytest.mark.parametrize("event, columns", COLUMNS)
def test_the_task_columns_written(event, columns):
    written = on_task_event(job(task()), 0, event, NOW).task
    assert {key: written.get(key, "absent") for key in columns} == columns
    if not event.output:
        assert "output_format" not in written
    if not event.error:
        assert "error_code" not in written


def test_a_measured_input_moves_the_quota():
    change = on_task_event(job(task()), 0, TaskEvent("started", input={"bytes": 130}), NOW)
    assert change.quota_delta == 30


# --- stages, attempts, duplicates and retries ----------------------------------------------

# (the task: status, stage, attempts; the event: stage, attempt) -> stage and attempts after;
# None: ignored
STAGES = [
    (("queued", None, 0), ("decode", 1), ("decode", 1)),
    (("processing", "decode", 1), ("transform", 1), ("transform", 1)),
    (("processing", "transform", 1), ("store", 1), ("store", 1)),      # a stage skipped
    (("processing", "transform", 1), ("decode", 1), None),             # late: a stage passed
    (("processing", "transform", 1), ("transform", 1), None),          # a duplicate
    (("processing", "encode", 1), ("decode", 2), ("decode", 2)),       # a retry starts over
    (("processing", "decode", 2), ("encode", 1), None),                # the old attempt's, late
    (("processing", "decode", 1), ("bogus", 1), None),                 # not a stage
    (("queued", None, 0), (None, 1), (None, 1)),                       # no stage: processing
    (("queued", None, 1), ("decode", None), ("decode", 1)),            # no attempt: the first
    (("processing", None, 1), ("encode", 1), ("encode", 1)),           # no stage known yet
]


@pytest.mark.parametrize("before, reported, after", STAGES)
def test_stages_only_move_forward_within_an_attempt(before, reported, after):
    status, stage, attempts = before
    event = TaskEvent("started", stage=reported[0], attempt=reported[1])
    change = on_task_event(job(task(status, stage=stage, attempts=attempts)), 0, event, NOW)
    if after is None:
        assert not change.applied and change.status == status
        return
    assert (change.task["stage"], change.task["attempts"]) == after


# (the task's attempts, the event's attempt) -> attempts after: it only grows
ATTEMPTS = [(1, 2, 2), (2, 1, 2), (0, None, 1), (3, 3, 3), (1, "2", 2)]


@pytest.mark.parametrize("attempts, attempt, expected", ATTEMPTS)
def test_attempts_only_grow(attempts, attempt, expected):
    event = TaskEvent("succeeded", attempt=attempt, output=OUT)
    change = on_task_event(job(task("processing", attempts=attempts)), 0, event, NOW)
    assert change.task["attempts"] == expected


def test_an_ignored_event_with_a_bad_attempt_stays_ignored():
    # the attempt is read only once the event applies
    change = on_task_event(job(task("succeeded")), 0, TaskEvent("failed", attempt="x"), NOW)
    assert not change.applied


# --- late events: after a cancel, a delete, or for nothing known --------------------------

# (the job, or None when deleted, the task index, the event) -> (status now, the late file dropped)
LATE = [
    (None, 0, EVENTS["succeeded"], (None, "webp")),                    # job deleted
    (job(task("processing")), 5, EVENTS["succeeded"], (None, "webp")),  # no such task
    (job(task("cancelled")), 0, EVENTS["succeeded"], ("cancelled", "webp")),  # job cancelled
    (job(task("succeeded")), 0, EVENTS["succeeded"], ("succeeded", None)),  # a duplicate: same file
    (job(task("failed")), 0, EVENTS["succeeded"], ("failed", None)),
    (None, 0, TaskEvent("succeeded", output={"width": 1}), (None, None)),  # no format: no path
    (None, 0, EVENTS["started"], (None, None)),
    (None, 0, EVENTS["progress"], (None, None)),
    (job(task("cancelled")), 0, EVENTS["failed"], ("cancelled", None)),
    (job(task("cancelled")), 0, EVENTS["dead-lettered"], ("cancelled", None)),
]


@pytest.mark.parametrize("before, index, event, expected", LATE)
def test_late_events_change_nothing_and_drop_late_results(before, index, event, expected):
    change = on_task_event(before, index, event, NOW)
    assert not change.applied
    assert (change.status, change.drop_output) == expected
    assert not (change.announce or change.refill or change.remove_inputs or change.quota_delta)


# A final event again, for a task already in the status it leads to: RabbitMQ
# redelivering it after the process that applied it died, maybe before the
# webhook went out; (the task's status, the event) -> the webhook handed over again
AGAIN = [
    ("succeeded", "succeeded", True),
    ("failed", "failed", True),
    ("failed", "dead-lettered", True),
    ("succeeded", "failed", False),      # another outcome: not the same event
    ("failed", "succeeded", False),
    ("cancelled", "succeeded", False),   # a late result, dropped
    ("cancelled", "failed", False),
    ("succeeded", "started", False),
    ("succeeded", "progress", False),
]


@pytest.mark.parametrize("status, event, again", AGAIN)
def test_a_final_event_again_hands_the_webhook_over_again(status, event, again):
    change = on_task_event(job(task(status)), 0, EVENTS[event], NOW)
    assert not change.applied and change.webhook_again is again
    assert not on_task_event(None, 0, EVENTS[event], NOW).webhook_again  # no job: nothing to send


def test_a_final_task_never_moves_whatever_arrives():
    for status, (kind, stage, attempt) in itertools.product(
            FINAL, itertools.product(("started", "succeeded", "failed"),
                                     (None, "decode", "store"), (None, 1, 9))):
        event = TaskEvent(kind, stage=stage, attempt=attempt, output=OUT, error=ERR)
        assert not on_task_event(job(task(status)), 0, event, NOW).applied


def test_the_other_tasks_are_left_as_they_are():
    other = task("processing", index=1, stage="encode", attempts=2)
    change = on_task_event(job(task(), other), 0, EVENTS["succeeded"], NOW)
    assert change.job_status == "processing"  # task 1 still runs
    assert change.quota_delta == 50


# --- a new job --------------------------------------------------------------------------------

def reused(index=0, output_bytes=40):
    return task("succeeded", index=index, output_bytes=output_bytes)


# (its tasks as created) -> (job status, quota delta, queue position cleared, inputs removed)
CREATED = [
    ((task(), task(index=1, input_bytes=50)), ("queued", 150, False, False)),
    ((reused(),), ("succeeded", 40, True, True)),                    # every task reused
    ((reused(), reused(index=1, output_bytes=2)), ("succeeded", 42, True, True)),
    ((reused(), task(index=1)), ("processing", 40 + 100 + 100, True, False)),  # inputs kept
    ((), ("queued", 0, False, False)),
    ((task(input_bytes=None),), ("queued", 0, False, False)),
]


@pytest.mark.parametrize("tasks, expected", CREATED)
def test_a_new_job(tasks, expected):
    change = on_created(JobState(status="queued", tasks=tasks))
    assert (change.job_status, change.quota_delta, change.clear_queue_position,
            change.remove_inputs) == expected
    assert change.applied and change.announce and change.refill


# (stored, the files' bytes, quota) -> admitted bytes, or None: refused
ADMISSION = [
    (0, [100, 200], 1000, 300),
    (700, [300], 1000, 300),      # exactly the quota
    (700, [301], 1000, None),
    (1000, [], 1000, 0),
    (1000, [None, 0], 1000, 0),   # unknown sizes count nothing
    (1001, [1], 1000, None),
]


@pytest.mark.parametrize("used, sizes, quota, expected", ADMISSION)
def test_admission_against_the_quota(used, sizes, quota, expected):
    files = [{"filename": "f", "bytes": size} for size in sizes]
    if expected is not None:
        assert admitted_bytes(used, files, quota) == expected
        return
    with pytest.raises(QuotaExceeded) as refused:
        admitted_bytes(used, files, quota)
    assert refused.value.details == {"used_bytes": used, "adding_bytes": sum(sizes),
                                     "quota_bytes": quota}


def test_new_tasks_are_queued_one_per_file_with_names_cut_to_the_column():
    files = [{"filename": "a" * 300, "format": "png", "bytes": 5}, {"filename": "b.gif"}]
    assert new_tasks(files) == [
        {"index": 0, "filename": "a" * 255, "status": "queued", "attempts": 0,
         "input_format": "png", "input_bytes": 5},
        {"index": 1, "filename": "b.gif", "status": "queued", "attempts": 0,
         "input_format": None, "input_bytes": None}]


# --- payloads to events -------------------------------------------------------------------

PAYLOADS = [
    (("started", {"job_id": "j", "index": 0}, {}),
     TaskEvent("started", attempt=None)),
    (("started", {"attempt": 2, "input": {"bytes": 3}}, {"stage": "encode"}),
     TaskEvent("started", attempt=2, stage="encode", input={"bytes": 3})),
    (("failed", {"attempt": 1}, {"attempt": 3, "error": ERR}),  # dead-lettered: its own count
     TaskEvent("failed", attempt=3, error=ERR)),
]


@pytest.mark.parametrize("given, expected", PAYLOADS)
def test_event_of_a_payload(given, expected):
    kind, payload, parts = given
    assert event_of(kind, payload, **parts) == expected


# --- open jobs: tasks added while the upload is read, then sealed ------------

def open_job(*tasks):
    return JobState(status=job_status((t.status for t in tasks), open=True), tasks=tasks,
                    open=True)


# (before, after, job status, quota delta, inputs removed)
RESHAPED = [
    # a task added to an open job: its input counts, the job stays open
    (open_job(task("succeeded", output_bytes=30)),
     open_job(task("succeeded", output_bytes=30), task(index=1, input_bytes=50)),
     "processing", 50, False),
    # sealed with every task ended: final now, inputs go
    (open_job(task("succeeded", output_bytes=30), task("failed", index=1)),
     job(task("succeeded", output_bytes=30), task("failed", index=1)),
     "partial", -200, True),
    # sealed with work left: as any job
    (open_job(task(), task("succeeded", index=1, output_bytes=5)),
     job(task(), task("succeeded", index=1, output_bytes=5)), "processing", 0, False),
    # sealed with a last task added
    (open_job(task("succeeded", output_bytes=30)),
     job(task("succeeded", output_bytes=30), task(index=1, input_bytes=70)),
     "processing", 70, False),
]


@pytest.mark.parametrize("before, after, status, delta, removed", RESHAPED)
def test_tasks_added_or_sealed(before, after, status, delta, removed):
    change = on_reshaped(before, after)
    assert (change.job_status, change.quota_delta, change.remove_inputs) == (status, delta,
                                                                             removed)
    assert change.applied and change.announce and change.refill


def test_an_event_never_ends_an_open_job():
    change = on_task_event(open_job(task("succeeded", output_bytes=1), task(index=1)), 1,
                           EVENTS["succeeded"], NOW)
    assert change.job_status == "processing" and not change.remove_inputs
    assert change.quota_delta == 50  # the output lands; the inputs still count


@pytest.mark.parametrize("known, count, first, expected", [
    (set(), 2, 0, [0, 1]),
    ({0}, 2, 1, [1, 2]),
    ({0, 1, 2}, 2, 1, []),         # delivered again: nothing twice
    ({0, 1}, 3, 1, [2, 3]),        # partly known
])
def test_files_to_add(known, count, first, expected):
    files = [{"filename": f"{i}.png"} for i in range(count)]
    assert [index for index, _ in files_to_add(known, files, first)] == expected


@pytest.mark.parametrize("owner, is_open, expected", [
    (None, True, "no such job"), ("other", True, "no such job"),
    ("me", True, None), ("me", False, "sealed"),
])
def test_what_may_grow(owner, is_open, expected):
    record = None if owner is None else types.SimpleNamespace(user_id=owner, open=is_open)
    assert open_refusal(record, "me") == expected


def test_new_tasks_numbered_from_first():
    assert [t["index"] for t in new_tasks([{"filename": "a"}, {"filename": "b"}], first=4)] == [
        4, 5]
