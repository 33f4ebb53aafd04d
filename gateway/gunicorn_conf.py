"""gunicorn settings from config.yaml: `gunicorn -c gateway/gunicorn_conf.py gateway.wsgi:app`.

gthread workers: each request is a real thread holding its own RPC proxy
from the pool (gateway/rpc.py). TLS is on when a certificate and key are set.
"""
from infra.config import load_config, section
from convertix.contract import GATEWAY_KEY

_gateway = section(load_config(), GATEWAY_KEY)

bind = f"{_gateway.get('host', '127.0.0.1')}:{_gateway.get('port', 8080)}"
worker_class = "gthread"
workers = int(_gateway.get("workers", 2))
threads = int(_gateway.get("threads", 8))
timeout = 60
graceful_timeout = 30
accesslog = None  # the gateway logs each request itself, as ECS JSON (gateway/requestlog.py)
if _gateway.get("tls_cert") and _gateway.get("tls_key"):
    certfile = _gateway["tls_cert"]
    keyfile = _gateway["tls_key"]

# --- metrics: the workers share prometheus_client's multiprocess folder
# (infra/metrics_multiproc.py); Prometheus finds /metrics through the
# target file (infra/metrics_targets.py). Set here, before anything
# imports prometheus_client: not the `gateway` package, whose app does.
from infra import metrics_multiproc as multiproc, metrics_targets  # noqa: E402

_config = load_config()
_metrics_dir = multiproc.multiproc_dir(_config)
multiproc.use_multiprocess(_metrics_dir)
_target = {}


def on_starting(server):
    multiproc.start(_metrics_dir)


def when_ready(server):
    host, port = server.LISTENERS[0].getsockname()[:2]  # as bound
    _target["path"] = metrics_targets.announce(
        metrics_targets.targets_dir(_config), "gateway", host, port,
        scheme="https" if _gateway.get("tls_cert") else "http")


def child_exit(server, worker):
    multiproc.worker_died(worker.pid)


def on_exit(server):
    if _target.get("path"):
        metrics_targets.withdraw(_target["path"])
