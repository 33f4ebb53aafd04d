"""Admin-only endpoints (SPEC, "Operations endpoints"): JWT claim `roles` has "admin".

`GET /api/v1/admin/stats`: queue depth and consumers, workers (the scaler's
view), jobs and tasks by status (gateway/stats.py).

`GET /api/v1/admin/logs?q=&service=&level=&job_id=&trace_id=&limit=`: log
search, from Elasticsearch when `LOGS.elasticsearch_url` is set, else from
the local store; the same answer either way (infra/logs/search.py).
"""
import functools

from flask import Blueprint, current_app, jsonify, request
from flask_jwt_extended import get_jwt, jwt_required

from convertix.contract import ADMIN_ROLE
from convertix.errors import ConvertixError
from gateway import stats as admin_stats
from gateway.ops import READINESS_POOL
from gateway.rpc import rpc_pool
from infra.logs import search as log_search
from infra.logs.setup import LogSettings

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


def require_admin(view):
    """A valid access token (else 401), whose `roles` claim has "admin" (else 403)."""
    @functools.wraps(view)
    @jwt_required()
    def wrapper(*args, **kwargs):
        if ADMIN_ROLE not in (get_jwt().get("roles") or []):
            raise ConvertixError("this needs the admin role", code="FORBIDDEN")
        return view(*args, **kwargs)
    return wrapper


def log_settings():
    return LogSettings.from_section(current_app.config.get("LOGS"))


@bp.get("/logs")
@require_admin
def logs():
    query = log_search.LogQuery.from_args(request.args)
    return jsonify(log_search.search(log_settings(), query))


@bp.get("/stats")
@require_admin
def stats():
    pool = rpc_pool(current_app, READINESS_POOL)  # short timeout: a part may be down
    return jsonify(admin_stats.gather(
        current_app.config["AMQP_URI"], current_app.config.get("RABBITMQ_MANAGEMENT_URL"),
        pool.call))
