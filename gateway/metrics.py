"""The gateway's Prometheus metrics: `GET /metrics`, and every request
counted by route and status and timed.

The route label is the URL rule (`/api/v1/jobs/<job_id>`), never the raw
path, so the number of series stays bounded whatever clients send.

Under gunicorn, each worker is its own process: infra/metrics_multiproc.py puts
them in prometheus_client's multiprocess mode, and whichever worker answers
`/metrics` adds up every worker's values (`infra.metrics.exposition`).
"""
import time

from flask import Blueprint, Response, g, request

from infra import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def serve_metrics():
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def init_app(app):
    """Count and time every request. Registered before the other
    before_request hooks (the rate limiter's), so it times those too."""
    app.before_request(_start)
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
