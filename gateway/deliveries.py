"""Webhook deliveries of a job (SPEC, "Jobs"): `GET /jobs/<id>/deliveries`
lists every attempt, `POST` starts a new round of attempts.

The owner check is the jobs service's (`get_job`: 404 for another user's
job, as on every path); the attempts are the notifier's. A new round is
bounded three ways, since it makes the notifier POST to a URL the caller
chose: the notifier refuses it while a round is pending (409 NOT_READY) and
past NOTIFIER.max_rounds (409 REDELIVERY_LIMIT); here, each user has
NOTIFIER.redelivery_rate_limit_per_user over all their jobs (429 with
Retry-After).
"""
import logging
import math
import time

from flask import Blueprint, current_app, jsonify
from flask_jwt_extended import jwt_required
from limits import parse_many
from limits.strategies import FixedWindowRateLimiter

from convertix.contract import JOB_FINAL, JOBS_SERVICE, NOTIFIER_SERVICE
from convertix.errors import ConvertixError, NotFound, NotReady
from gateway.auth import current_user_id
from gateway.limits import limiter
from gateway.rpc import rpc_pool
from gateway.settings import default

bp = Blueprint("deliveries", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


def _own_job(job_id):
    return rpc_pool(current_app).call(JOBS_SERVICE, "get_job", job_id, current_user_id())


def check_redelivery_rate(user_id):
    """Count one redelivery of `user_id`; RATE_LIMITED (with retry_after_s) past the limit.

    In the rate limits' store (Redis: every gateway process counts together);
    if it is unreachable the request passes, as the other rate limits do."""
    key = f"{current_app.config['RATE_LIMIT_PREFIX']}:redeliver:{user_id}"
    try:
        window = FixedWindowRateLimiter(limiter.storage)
        rates = parse_many(current_app.config.get("REDELIVERY_RATE_LIMIT_PER_USER")
                           or default("REDELIVERY_RATE_LIMIT_PER_USER"))
        full = [rate for rate in rates if not window.test(rate, key)]
        if not full:
            for rate in rates:
                window.hit(rate, key)
            return
        reset_at = max(window.get_window_stats(rate, key).reset_time for rate in full)
    except Exception:
        log.warning("redelivery rate: store unreachable; not counted", exc_info=True)
        return
    retry_after_s = max(1, math.ceil(reset_at - time.time()))
    raise ConvertixError(f"too many redeliveries; try again in {retry_after_s} s",
                         code="RATE_LIMITED", details={"retry_after_s": retry_after_s})


@bp.get("/jobs/<job_id>/deliveries")
@jwt_required()
def deliveries(job_id):
    _own_job(job_id)
    return jsonify(rpc_pool(current_app).call(NOTIFIER_SERVICE, "deliveries_of",
                                              job_id, current_user_id()))


@bp.post("/jobs/<job_id>/deliveries")
@jwt_required()
def redeliver(job_id):
    job = _own_job(job_id)
    if not job.get("callback_url"):
        raise NotFound("the job has no callback_url", details={"field": "callback_url"})
    if job["status"] not in JOB_FINAL:
        raise NotReady("the job is not final yet: its webhook is sent when it is")
    check_redelivery_rate(current_user_id())
    response = jsonify(rpc_pool(current_app).call(NOTIFIER_SERVICE, "redeliver",
                                                  job_id, current_user_id(), document=job))
    response.status_code = 202
    return response
