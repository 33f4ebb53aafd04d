"""The contract: every name that two components must agree on, defined once.

The gateway, the services, the scaler and the tests import these names; none
of them spells a status, role, service, queue or event by hand.
"""

# --- job and task statuses (SPEC, "Jobs"); the transitions: services/jobs/states.py ---
QUEUED, PROCESSING = "queued", "processing"
SUCCEEDED, FAILED, CANCELLED, PARTIAL = "succeeded", "failed", "cancelled", "partial"
TASK_STATUSES = (QUEUED, PROCESSING, SUCCEEDED, FAILED, CANCELLED)
TASK_FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
JOB_STATUSES = (QUEUED, PROCESSING, SUCCEEDED, FAILED, PARTIAL, CANCELLED)
JOB_FINAL = frozenset({SUCCEEDED, FAILED, PARTIAL, CANCELLED})

# --- roles (the JWT `roles` claim) ---
ADMIN_ROLE = "admin"
ROLES = (ADMIN_ROLE,)

# --- pages of `GET /jobs` ---
DEFAULT_PAGE = 20
MAX_PAGE = 100

# --- RPC service names (nameko `name =`) ---
ACCOUNTS_SERVICE = "accounts"
JOBS_SERVICE = "jobs"
CONVERTER_SERVICE = "converter"

# --- conversion queue: one message per task, or per chunk of small tasks of one job ---
# A quorum queue: RabbitMQ counts deliveries itself, so a message that keeps
# failing (or keeps killing its worker) is dead-lettered after
# `max_attempts`, not redelivered forever.
CONVERT_EXCHANGE = "convertix.convert"
CONVERT_QUEUE = "convertix.convert"
CONVERT_ROUTING_KEY = "convert"
DEAD_LETTER_EXCHANGE = "convertix.dead-letter"
DEAD_LETTER_QUEUE = "convertix.convert.dead-letter"


def task_message(job_id, indexes, options):
    """A message of the conversion queue: {"job_id", "index", "options"} for
    one task, {"job_id", "indexes", "options"} for a chunk of small tasks of
    one job (services/jobs/chunks.py). Each task still ends on its own."""
    if len(indexes) == 1:
        return {"job_id": job_id, "index": indexes[0], "options": options}
    return {"job_id": job_id, "indexes": list(indexes), "options": options}


def task_indexes(message):
    """The indexes of the tasks a conversion-queue message carries."""
    return list(message["indexes"]) if "indexes" in message else [message["index"]]

# --- events the converter dispatches, the jobs service handles ---
TASK_STARTED = "task_started"
TASK_SUCCEEDED = "task_succeeded"
TASK_FAILED = "task_failed"
# {"job_id", "index", "attempt", "stage"}: a task reached a stage (in order)
TASK_PROGRESS = "task_progress"
STAGES = ("decode", "transform", "encode", "store")

# --- the event the jobs service dispatches after each committed change of a
# job or one of its tasks (nameko event of JOBS_SERVICE). Its payload:
# {"job_id", "user_id", "seq" (grows per job), "document" (the job document),
#  "callback_url"}. The gateway (live events, /convert) handles it.
JOB_CHANGED = "job_changed"
# The same payload once more, confirmed by the broker, when a job that has a
# callback_url becomes final: the notifier (webhooks) handles only this one,
# so it hears nothing of the other changes (two per /convert, most jobs
# without a webhook).
JOB_WEBHOOK_DUE = "job_webhook_due"
NOTIFIER_SERVICE = "notifier"

# --- where events travel: nameko sends a service's events to the topic
# exchange `<service>.events`, routed by the event's name
# (nameko.standalone.events.get_event_exchange; tests/unit/test_contract.py
# holds nameko to it). A listener outside nameko (the gateway, a test's tap)
# binds a queue of its own there.
EVENTS_EXCHANGE = "{service}.events"
JOBS_EVENTS_EXCHANGE = EVENTS_EXCHANGE.format(service=JOBS_SERVICE)
CONVERTER_EVENTS_EXCHANGE = EVENTS_EXCHANGE.format(service=CONVERTER_SERVICE)


def job_change(job_id, user_id, seq, document, callback_url):
    """The payload of JOB_CHANGED and JOB_WEBHOOK_DUE, as the jobs service sends it."""
    return {"job_id": job_id, "user_id": user_id, "seq": seq, "document": document,
            "callback_url": callback_url}


def read_job_change(body):
    """(job_id, seq, document) of a JOB_CHANGED payload; ValueError if it is not one."""
    try:
        return body["job_id"], int(body["seq"]), body["document"]
    except (KeyError, TypeError, ValueError):
        raise ValueError("not a job change: no job_id, seq or document") from None

# Config keys, and the secrets that come only from the environment, are not
# the contract between components: infra/config/schema.py defines them.

# --- logs: the job's context, carried in Nameko context data (RPC, events,
# and the conversion queue's message headers) ---
LOG_CONTEXT_TRACE_ID = "convertix.trace_id"
LOG_CONTEXT_JOB_ID = "convertix.job_id"
LOG_CONTEXT_TASK_INDEX = "convertix.task_index"
LOG_CONTEXT_USER_ID = "convertix.user_id"

# Result download path, shown in each task's `output.url`.
RESULT_URL = "/api/v1/jobs/{job_id}/tasks/{index}/result"

# --- the scaler (scaler/) ---
SCALER_SERVICE = "scaler"
