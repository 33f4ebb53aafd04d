"""gunicorn settings from config.yaml: `gunicorn -c gateway/gunicorn_conf.py gateway.wsgi:app`.

gevent workers by default (GATEWAY.worker_class): every request is a greenlet,
so an open event stream (GET /jobs/<id>/events) costs a greenlet, not a
thread, and one worker holds worker_connections of them (the listen backlog
holds the next ones until one ends). Event streams may take three quarters
of them, and one user GATEWAY.sse_streams_per_user in all processes
(gateway/stream_slots.py), so the rest always answers other requests; each
request that calls a service checks a proxy out of the pool (gateway/rpc.py),
which works the same on greenlets and threads. TLS is on when a certificate
and key are set (on both listeners).
"""
from infra.config import load_checked
from infra.config.schema import GATEWAY, METRICS, read

_config = load_checked()  # a bad key stops gunicorn here, naming it
_gateway = read(_config, GATEWAY)
_metrics = read(_config, METRICS)

# The API, and an internal listener for Prometheus only (gateway/metrics.py):
# /metrics is not served to the public on the API port.
bind = [f"{_gateway['host']}:{_gateway['port']}", f"{_metrics['host']}:{_metrics['port']}"]
API, METRICS_LISTENER = 0, 1  # their places in bind, and in gunicorn's LISTENERS
worker_class = _gateway["worker_class"]
workers = _gateway["workers"]
threads = _gateway["threads"]
worker_connections = _gateway["worker_connections"]
timeout = 60
# A stopping worker gets this long for requests in flight (a /convert waits at
# most sync_convert_timeout_s; event streams end at once), then the master
# kills it: well inside the 30 s an orchestrator or `make stop` gives the gateway.
graceful_timeout = 15
accesslog = None  # the gateway logs each request itself, as ECS JSON (gateway/requestlog.py)
if _gateway["tls_cert"] and _gateway["tls_key"]:
    certfile = _gateway["tls_cert"]
    keyfile = _gateway["tls_key"]

# --- metrics: the workers share prometheus_client's multiprocess folder
# (infra/metrics_multiproc.py); Prometheus finds /metrics through the
# target file (infra/metrics_targets.py). Set here, before anything
# imports prometheus_client: not the `gateway` package, whose app does.
from infra import metrics_multiproc as multiproc  # noqa: E402
from infra import metrics_targets  # noqa: E402

_metrics_dir = multiproc.multiproc_dir(_config)
multiproc.use_multiprocess(_metrics_dir)
_target = {}


def on_starting(server):
    multiproc.start(_metrics_dir)


def when_ready(server):
    host, port = server.LISTENERS[METRICS_LISTENER].getsockname()[:2]  # as bound
    _target["path"] = metrics_targets.announce(
        metrics_targets.targets_dir(_config), "gateway", host, port,
        scheme="https" if _gateway["tls_cert"] else "http")


def post_worker_init(worker):
    from gateway.events import drain_when_stopping  # in the worker: the app is loaded
    from gateway.metrics import LISTENER
    drain_when_stopping(worker)  # open event streams end at once on SIGTERM
    # requests that came in there are Prometheus' (gateway/metrics.py)
    worker.wsgi.config[LISTENER] = worker.sockets[METRICS_LISTENER].getsockname()[:2]


def child_exit(server, worker):
    multiproc.worker_died(worker.pid)


def on_exit(server):
    if _target.get("path"):
        metrics_targets.withdraw(_target["path"])
