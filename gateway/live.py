"""GET /api/v1/jobs/<id>/events: the job's changes as server-sent events (SPEC, "Jobs").

Event `job`, `data:` the job document, `id:` its seq (grows with every
change of the job). The current document comes first; with `Last-Event-ID`
only documents newer than that id (a reconnect misses nothing: each event
carries the whole document). A comment every GATEWAY.sse_heartbeat_s; the
stream ends after a final status. Auth as everywhere (Bearer), or
`?access_token=` for clients that cannot send headers (EventSource).

A stream is bounded (gateway/stream_slots.py: per user and per process,
before any RPC) and lives at most GATEWAY.sse_max_stream_s; its token is
checked again before each event and heartbeat (expiry, and logout through
gateway/revocations.py), so a stream ends with its session. A stream that
ends before its job does sends `event: end` with `{"reason": ...}` last.
"""
import contextlib
import logging
import time

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_jwt_extended import get_jwt, jwt_required

from convertix.contract import JOBS_SERVICE
from gateway import sse
from gateway.auth import current_user_id
from gateway.events import TOKEN_EXPIRED, TOKEN_REVOKED, job_events
from gateway.revocations import EXTENSION as REVOCATIONS
from gateway.rpc import rpc_pool
from gateway.stream_slots import StreamSlots, stream_slots

bp = Blueprint("live", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

QUERY_TOKEN = "access_token"
LAST_EVENT_ID = "Last-Event-ID"


def init_app(app):
    # ?access_token= on the routes that allow the query string (this one only)
    app.config["JWT_QUERY_STRING_NAME"] = QUERY_TOKEN  # flask-jwt-extended says "jwt"
    StreamSlots(app)


def token_ends(token, revocations, clock=time.time):
    """why_end() for a stream opened with `token` (its decoded claims): why the
    token no longer holds (expired, or its session revoked), or None."""
    expires_at, session = token["exp"], token.get("sid") or token["jti"]

    def why_end():
        if clock() >= expires_at:
            return TOKEN_EXPIRED
        try:
            if revocations.is_revoked(session):
                return TOKEN_REVOKED
        except Exception:  # the accounts service is away: a marker file still holds
            log.warning("event stream: revocation not checked", exc_info=True)
        return None
    return why_end


@bp.get("/jobs/<job_id>/events")
@jwt_required(locations=["headers", "query_string"])
def job_events_stream(job_id):
    events = job_events(current_app)
    pool, user_id = rpc_pool(current_app), current_user_id()
    why_end = token_ends(get_jwt(), current_app.extensions[REVOCATIONS])
    slots = stream_slots()

    def fetch():
        return pool.call(JOBS_SERVICE, "get_job", job_id, user_id)

    watching = contextlib.ExitStack()
    try:
        watching.enter_context(slots.hold(user_id))  # 503/429 here: before any RPC
        waiter = watching.enter_context(events.watch(job_id))  # before the read: nothing slips by
        document = fetch()  # 404 for another user's job, before any byte is sent
    except BaseException:
        watching.close()
        raise
    waiter.offer(document["seq"], document)
    last_seen = sse.last_event_id(request.headers.get(LAST_EVENT_ID)
                                  or request.args.get("last_event_id"))

    def body():
        with watching:
            yield from events.stream(waiter, fetch, last_seen, why_end=why_end,
                                     max_s=slots.max_stream_s)

    response = Response(stream_with_context(body()), mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # A body never started (the client left first) still gives its slot back.
    response.call_on_close(watching.close)
    return response
