"""/convert's tasks: handed straight to a converter, recorded after answering.

The gateway puts a /convert task on the conversion queue itself, with what
the jobs service needs to record the job afterwards (`record`) and where the
converter's answer goes (`reply_to`: the gateway process's event queue).
The converter answers the gateway, then puts `record` into the task's final
event (a confirmed, persistent message on the jobs service's durable event
queue), and only then acks the task: so the job is recorded from that event
even if every other process dies once the converter has sent it, and a
converter lost between its answer and the event leaves the task on the
queue, to be converted and recorded again. The answer is shaped as a
`job_changed` (convertix/contract.py `job_change`), so the gateway's event
listener wakes the waiting request as it wakes any waiter. Its `document`
holds only what the gateway reads to answer (status, the task's status,
filename, output format and error); clients never see it.
"""
from convertix.contract import FAILED, SUCCEEDED, job_change

RECORD = "record"      # {"user_id", "filename", "format", "bytes", "sha256", "callback_url", "created_at"}
REPLY_TO = "reply_to"  # the queue the converter's answer goes to (the default exchange routes by name)
# epoch seconds (the gateway's clock) until which the gateway waits for the
# answer: stage reports before then would go to a job nobody can see yet
ANSWER_BY = "answer_by"
# after the wait, the gateway records the job (its 202): reports start once it has
QUIET_MARGIN_S = 1.0
# the answer's seq: above the placeholder a gateway holds while it waits (PENDING_SEQ)
ANSWER_SEQ, PENDING_SEQ = 1, 0


def task_message(job_id, options, record, reply_to=None, answer_by=None):
    """A /convert task: one file (index 0), recorded from its final event."""
    message = {"job_id": job_id, "index": 0, "options": options, RECORD: record}
    if reply_to:
        message[REPLY_TO] = reply_to
    if answer_by is not None:
        message[ANSWER_BY] = answer_by
    return message


def quiet_s(task, now):
    """How long a task's stage reports must wait, at least: a /convert task's
    job exists only once it ends (its record) or once its gateway stops
    waiting and records it (the 202 path), so until the gateway's wait is
    over (and a margin for its record) its stages would reach no job. 0 for
    any other task."""
    answer_by = task.get(ANSWER_BY)
    if not isinstance(answer_by, (int, float)) or isinstance(answer_by, bool):
        return 0.0
    return max(0.0, answer_by + QUIET_MARGIN_S - now)


def with_record(task, payload):
    """The final event's payload, carrying the task's record if it has one."""
    record = task.get(RECORD)
    return {**payload, RECORD: record} if record else payload


def answer(task, payload):
    """The job_changed-shaped answer to a /convert task's gateway (its final
    event's payload: `output` on success, `error` on failure)."""
    record = task[RECORD]
    status = FAILED if payload.get("error") else SUCCEEDED
    document = {"id": task["job_id"], "status": status, "seq": ANSWER_SEQ, "tasks": [{
        "index": 0, "status": status, "filename": record.get("filename"),
        "output": payload.get("output"), "error": payload.get("error")}]}
    return job_change(task["job_id"], record.get("user_id"), ANSWER_SEQ, document,
                      record.get("callback_url"))


def pending(job_id):
    """What a waiting gateway holds until the answer or the record comes."""
    return {"id": job_id, "status": "queued", "seq": PENDING_SEQ, "tasks": []}
