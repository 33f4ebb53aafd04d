"""Webhook deliveries of a job (SPEC, "Jobs"): `GET /jobs/<id>/deliveries`
lists every attempt, `POST` starts a new round of attempts.

The owner check is the jobs service's (`get_job`: 404 for another user's
job, as on every path); the attempts are the notifier's.
"""
from flask import Blueprint, current_app, jsonify
from flask_jwt_extended import jwt_required

from convertix.contract import JOB_FINAL, JOBS_SERVICE, NOTIFIER_SERVICE
from convertix.errors import NotFound, NotReady
from gateway.auth import current_user_id
from gateway.rpc import rpc_pool

bp = Blueprint("deliveries", __name__, url_prefix="/api/v1")


def _own_job(job_id):
    return rpc_pool(current_app).call(JOBS_SERVICE, "get_job", job_id, current_user_id())


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
    response = jsonify(rpc_pool(current_app).call(NOTIFIER_SERVICE, "redeliver",
                                                  job_id, current_user_id(), document=job))
    response.status_code = 202
    return response
