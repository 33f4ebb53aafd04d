"""Each request's log context, and one ECS line per request.

Before a request: a trace id (the caller's W3C `traceparent` or
`X-Request-ID`, else a new one) and the job id of `/jobs/<job_id>/...` are
bound to the log context; the user id is read from the request's verified
JWT whenever a line is logged. The trace id is answered in `X-Request-ID`.
The RPC pool (gateway/rpc.py) sends these fields to the services as Nameko
context data, so the services' lines carry them too.
"""
import logging
import time

from flask import g, has_request_context, request

from infra.logs import context

log = logging.getLogger("gateway.request")

REQUEST_ID_HEADER = "X-Request-ID"


def init_app(app):
    context.add_provider(_user_from_jwt)

    @app.before_request
    def bind_request():
        g.convertix_log_token = context.bind(
            trace_id=context.trace_id_from_headers(request.headers),
            job_id=(request.view_args or {}).get("job_id"))
        g.convertix_started = time.monotonic()

    @app.after_request
    def log_request(response):
        fields = context.current()
        if "trace_id" in fields:
            response.headers[REQUEST_ID_HEADER] = fields["trace_id"]
        started = g.get("convertix_started")
        duration_ns = int((time.monotonic() - started) * 1e9) if started else None
        log.info("%s %s %s", request.method, request.path, response.status_code, extra={
            "http.request.method": request.method,
            "url.path": request.path,
            "http.response.status_code": response.status_code,
            "event.duration": duration_ns,
            "client.ip": request.remote_addr,
        })
        return response

    @app.teardown_request
    def unbind_request(_exc):
        token = g.pop("convertix_log_token", None)
        if token is not None:
            try:
                context.reset(token)
            except ValueError:  # bound in another context (should not happen)
                context.clear()


def bind_job(job_id):
    """The job a request created (POST /jobs, /convert): its later lines carry it."""
    context.bind(job_id=job_id)


def _user_from_jwt():
    if not has_request_context():
        return None
    token = g.get("_jwt_extended_jwt")  # set by flask-jwt-extended once verified
    if token:
        return {"user_id": token.get("sub")}
    return None
