"""GET /api/v1/jobs/<id>/events: the job's changes as server-sent events (SPEC, "Jobs").

Event `job`, `data:` the job document, `id:` its seq (grows with every
change of the job). The current document comes first; with `Last-Event-ID`
only documents newer than that id (a reconnect misses nothing: each event
carries the whole document). A comment every GATEWAY.sse_heartbeat_s; the
stream ends after a final status. Auth as everywhere (Bearer), or
`?access_token=` for clients that cannot send headers (EventSource).
"""
import contextlib

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_jwt_extended import jwt_required

from convertix.contract import JOBS_SERVICE
from gateway import sse
from gateway.auth import current_user_id
from gateway.events import job_events
from gateway.rpc import rpc_pool

bp = Blueprint("live", __name__, url_prefix="/api/v1")

QUERY_TOKEN = "access_token"
LAST_EVENT_ID = "Last-Event-ID"


def init_app(app):
    # ?access_token= on the routes that allow the query string (this one only)
    app.config["JWT_QUERY_STRING_NAME"] = QUERY_TOKEN  # flask-jwt-extended says "jwt"


@bp.get("/jobs/<job_id>/events")
@jwt_required(locations=["headers", "query_string"])
def job_events_stream(job_id):
    events = job_events(current_app)
    pool, user_id = rpc_pool(current_app), current_user_id()

    def fetch():
        return pool.call(JOBS_SERVICE, "get_job", job_id, user_id)

    watching = contextlib.ExitStack()
    waiter = watching.enter_context(events.watch(job_id))  # before the read: nothing slips by
    try:
        document = fetch()  # 404 for another user's job, before any byte is sent
    except BaseException:
        watching.close()
        raise
    waiter.offer(document["seq"], document)
    last_seen = sse.last_event_id(request.headers.get(LAST_EVENT_ID)
                                  or request.args.get("last_event_id"))

    def body():
        with watching:
            yield from events.stream(waiter, fetch, last_seen)

    return Response(stream_with_context(body()), mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
