"""The gateway's Prometheus metrics: `GET /metrics`, and every request
counted by route and status and timed.

The route label is the URL rule (`/api/v1/jobs/<job_id>`), never the raw
path, so the number of series stays bounded whatever clients send.

Under gunicorn, each worker is its own process: infra/metrics_multiproc.py puts
them in prometheus_client's multiprocess mode, and whichever worker answers
`/metrics` adds up every worker's values (`infra.metrics.exposition`).

Not public: gunicorn binds a second, internal listener at METRICS.host:port
(gateway/gunicorn_conf.py; port 0: a free one, announced in METRICS.targets_dir
where Prometheus finds it, as every `nameko run` process's). That listener
answers `/metrics` and nothing else; the API port answers `/metrics` only to
an admin token. gunicorn sets SERVER_NAME/SERVER_PORT from the listening
socket a request came in on, never from the Host header, so a client cannot
pass for the internal listener.
"""
import time

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import NotFound

from gateway.admin import require_admin
from infra import metrics

bp = Blueprint("metrics", __name__)

LISTENER = "METRICS_LISTENER"  # app.config: (host, port) of the internal listener, if any
ENDPOINT = "metrics.serve_metrics"


def on_metrics_listener():
    listener = current_app.config.get(LISTENER)
    return listener is not None and (
        request.environ.get("SERVER_NAME"), request.environ.get("SERVER_PORT")) == (
        str(listener[0]), str(listener[1]))


def _exposition():
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


@bp.get("/metrics")
def serve_metrics():
    if on_metrics_listener():
        return _exposition()
    return require_admin(_exposition)()


def _only_metrics_there():
    """The internal listener serves /metrics only: no API behind it, no token checks."""
    if on_metrics_listener() and request.endpoint != ENDPOINT:
        raise NotFound()


def init_app(app):
    """Count and time every request. Registered before the other
    before_request hooks (the rate limiter's), so it times those too."""
    app.before_request(_start)
    app.before_request(_only_metrics_there)
    app.after_request(_count)
    app.register_blueprint(bp)


def _start():
    g.metrics_started = time.perf_counter()


def _count(response):
    rule = request.url_rule
    route = rule.rule if rule is not None else metrics.UNMATCHED_ROUTE
    metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    started = g.pop("metrics_started", None)
    if started is not None:
        metrics.HTTP_LATENCY.labels(request.method, route).observe(
            time.perf_counter() - started)
    return response
