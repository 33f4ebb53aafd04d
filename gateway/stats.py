"""What GET /api/v1/admin/stats answers: queue depth and consumers (from
RabbitMQ), workers (from the scaler), jobs and tasks by status (from the
jobs service). A part whose source does not answer says why instead of
failing the whole answer: an operator asks exactly when something is wrong.
"""
from convertix.contract import CONVERT_QUEUE, DEAD_LETTER_QUEUE, JOBS_SERVICE, SCALER_SERVICE
from convertix.errors import ConvertixError
from infra.queue_stats import QueueStatsReader

# The scaler's status, reduced to what an operator reads first.
WORKER_FIELDS = ("running", "desired", "reason", "last_error")


def gather(amqp_uri, management_url, call):
    """call(service, method) -> result: an RPC with a short timeout."""
    counts = _part(lambda: call(JOBS_SERVICE, "stats"))
    return {
        "queues": _queues(amqp_uri, management_url),
        "workers": _part(lambda: _workers(call(SCALER_SERVICE, "status"))),
        "jobs": counts.get("jobs", counts),     # by status (or the error)
        "tasks": counts.get("tasks", counts),
    }


def _queues(amqp_uri, management_url):
    reader = QueueStatsReader(amqp_uri, management_url)
    try:
        return {name: _part(lambda name=name: reader.read(name).to_dict())
                for name in (CONVERT_QUEUE, DEAD_LETTER_QUEUE)}
    finally:
        reader.close()


def _workers(status):
    backend = status.get("backend") or {}
    return {**{k: status.get(k) for k in WORKER_FIELDS},
            "backend": backend.get("backend") or backend.get("name"),
            "replicas": backend.get("replicas") or backend.get("tasks") or []}


def _part(read):
    try:
        return read()
    except ConvertixError as exc:
        error = {"error": {"code": exc.code, "message": exc.message}}
    except Exception as exc:  # broker down, queue not declared yet, remote error
        error = {"error": {"code": "UNAVAILABLE", "message": f"{type(exc).__name__}: {exc}"}}
    return error
