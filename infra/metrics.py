"""Every Prometheus metric of Convertix, defined once, so that the gateway,
the services, the dashboard and the alert rules agree on names and labels.

Metrics are module-level objects of prometheus_client's default registry.
Under gunicorn the gateway runs prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by gateway/gunicorn_conf.py before any worker
imports this module): each worker writes its values to files there, and
`/metrics` adds them up. A Nameko process is one process: its values live in
memory and it serves them itself (infra/nameko/metrics.py).

Labels are bounded sets: routes are Flask's URL rules (not raw paths),
formats come from the sniffer's and encoders' fixed lists, outcomes and
error codes from convertix/errors.py.
"""
import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

# The classic text format, which every Prometheus 2.x reads.
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from infra.config.schema import PROMETHEUS_MULTIPROC_ENV

# --- the gateway ----------------------------------------------------------

HTTP_REQUESTS = Counter(
    "convertix_http_requests_total",
    "HTTP requests answered by the gateway, by route (URL rule) and status.",
    ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "convertix_http_request_duration_seconds",
    "Time from a request's start to its response, by route.",
    ["method", "route"],
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
# The route label of a request that matched no URL rule (a 404).
UNMATCHED_ROUTE = "<unmatched>"

# --- the converter --------------------------------------------------------

# outcome: converted; failed with a code (a bad image: acked, not retried);
# error (raised: the message is requeued, and dead-lettered in the end).
SUCCEEDED, FAILED, ERROR = "succeeded", "failed", "error"
UNKNOWN_FORMAT = "unknown"

CONVERSIONS = Counter(
    "convertix_conversions_total",
    "Conversion tasks a converter finished, by input and output format and outcome.",
    ["input_format", "output_format", "outcome"])
CONVERSION_FAILURES = Counter(
    "convertix_conversion_failures_total",
    "Conversion tasks failed with an error code (outcome failed), by code.",
    ["code"])
CONVERSION_DURATION = Histogram(
    "convertix_conversion_duration_seconds",
    "Time a converter spent on one task: from its delivery to its outcome.",
    ["input_format", "output_format", "outcome"],
    buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120))
_BYTE_BUCKETS = tuple(2 ** n for n in range(10, 28, 2))  # 1 KiB .. 128 MiB, x4
CONVERSION_INPUT_BYTES = Histogram(
    "convertix_conversion_input_bytes",
    "Size of each input a converter converted, by input format.",
    ["input_format"], buckets=_BYTE_BUCKETS)
CONVERSION_OUTPUT_BYTES = Histogram(
    "convertix_conversion_output_bytes",
    "Size of each output a converter wrote, by output format.",
    ["output_format"], buckets=_BYTE_BUCKETS)

# --- every Nameko service -------------------------------------------------

SERVICE_CALLS = Counter(
    "convertix_service_calls_total",
    "Entrypoint calls (RPC, events, queue messages, timers) a service handled.",
    ["service", "entrypoint", "outcome"])
SERVICE_CALL_DURATION = Histogram(
    "convertix_service_call_duration_seconds",
    "Time a service spent in one entrypoint call.",
    ["service", "entrypoint"],
    buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))

DB_COMMITS = Counter(
    "convertix_db_commits_total",
    "Database transactions a service committed (what group commits save).",
    ["service"])

# --- the notifier -----------------------------------------------------------

WEBHOOK_ATTEMPTS = Counter(
    "convertix_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, retry, failed).",
    ["outcome"])

# --- the jobs service -------------------------------------------------------

RETENTION_REMOVED = Counter(
    "convertix_retention_removed_total",
    "What the retention sweeper removed: expired jobs (with their outputs and records).",
    ["kind"])

# --- make run's supervisor (infra/supervise/watcher.py) ---------------------

COMPONENT_RESTARTS = Counter(
    "convertix_component_restarts_total",
    "Times supervisord started a component again after it exited, by component.",
    ["component"])

# --- the jobs service: read from the database at scrape time --------------
# (gauges, not counters: several jobs processes each report the same
# numbers, so aggregate them with max(), not sum())
JOBS = "convertix_jobs"
TASKS = "convertix_tasks"

# The scaler's metrics are its own: scaler/metrics.py.


def multiprocess_dir():
    return os.environ.get(PROMETHEUS_MULTIPROC_ENV)


def exposition():
    """(body, content type) of this process's metrics in Prometheus' text format.

    In multiprocess mode, every process's values, added up from their files.
    """
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
