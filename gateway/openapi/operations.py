"""What each route takes and answers, keyed by "METHOD rule" as Flask registers it.

The generator (gateway/openapi/document.py) walks `app.url_map`: paths,
methods and path parameters come from the routes themselves. This table adds
what a rule cannot say: the summary, who may call it, the body and the
answer, and the SPEC error codes. A route without an entry here still
appears in the document, and tests/web/test_openapi.py fails until it gets
one, so the table cannot silently fall behind the code.
"""
from dataclasses import dataclass, field

from gateway.openapi.schemas import option_parameters

JSON = "application/json"
MULTIPART = "multipart/form-data"
# a raw-body upload: the image itself (its format is sniffed from the bytes)
RAW_BODIES = (("image/*", None), ("application/octet-stream", None))
ACCESS, REFRESH, ADMIN = "access", "refresh", "admin"


@dataclass(frozen=True)
class Op:
    summary: str
    auth: str | None = ACCESS              # None: no token; ACCESS / REFRESH / ADMIN
    request: tuple | None = None           # (media type, schema name)
    bodies: tuple = ()                     # more (media type, schema name) it also takes
    status: int = 200                      # the success status
    answer: tuple | None = (JSON, "Object")  # (media type, schema name or None), None: no body
    errors: tuple = ()                     # SPEC codes besides the auth ones
    query: tuple = ()                      # (name, schema, description)
    rpc: bool = True                       # talks to a service: may answer 503
    tags: tuple = field(default=())
    description: str = ""


PAGE_QUERY = (
    ("status", {"type": "string"}, "only jobs with this status"),
    ("limit", {"type": "integer", "minimum": 1}, "page size"),
    ("cursor", {"type": "string"}, "next_cursor of the previous page"),
)
# with a raw body (SPEC additions, "Raw-body upload"), what multipart sends in parts
RAW_QUERY = (
    ("options", {"type": "string"}, "with a raw body: the Options object as JSON"),
    ("callback_url", {"type": "string", "format": "uri"}, "with a raw body: the webhook URL"),
    ("filename", {"type": "string"}, "with a raw body: the file's name (else the "
     "Content-Disposition's, else upload.<extension of the sniffed format>)"),
) + option_parameters()
RAW_NOTE = ("Or one image as the request body (`Content-Type: image/*` or "
            "`application/octet-stream`, no multipart), with the options in the query string: "
            "`options=<JSON>` or one parameter per option (`?format=webp&width=256`). "
            "Any other Content-Type with a body: 415 `UNSUPPORTED_FORMAT`.")
LOG_QUERY = tuple((name, {"type": "string"}, text) for name, text in (
    ("q", "words to find"), ("service", "gateway, jobs, converter, ..."),
    ("level", "INFO, WARNING, ERROR"), ("job_id", "one job's lines"),
    ("trace_id", "one request's lines"), ("limit", "most lines returned")))

OPERATIONS = {
    # --- auth ---
    "POST /api/v1/auth/register": Op(
        "Create an account", auth=None, request=(JSON, "Credentials"), status=201,
        answer=(JSON, "User"), errors=("BAD_REQUEST", "WEAK_PASSWORD", "USERNAME_TAKEN",
                                       "RATE_LIMITED"), tags=("auth",)),
    "POST /api/v1/auth/login": Op(
        "Sign in: an access and a refresh token", auth=None, request=(JSON, "Credentials"),
        answer=(JSON, "Tokens"), errors=("BAD_REQUEST", "INVALID_CREDENTIALS", "RATE_LIMITED"),
        tags=("auth",)),
    "POST /api/v1/auth/refresh": Op(
        "A new access token (send the refresh token as Bearer)", auth=REFRESH,
        answer=(JSON, "Tokens"), tags=("auth",)),
    "POST /api/v1/auth/logout": Op(
        "Revoke the session: its access and refresh tokens", status=204, answer=None,
        tags=("auth",)),
    "GET /api/v1/auth/me": Op("The signed-in user", answer=(JSON, "User"), tags=("auth",)),
    # --- formats and jobs ---
    "GET /api/v1/formats": Op(
        "What this installation reads and writes", auth=None, answer=(JSON, "Formats"),
        rpc=False, tags=("jobs",),
        description="Also each format's file name endings and media types, and the final "
                    "statuses of a job and a task: clients take these tables from here."),
    "POST /api/v1/jobs": Op(
        "Upload files with one set of options: a job", request=(MULTIPART, "Upload"),
        bodies=RAW_BODIES, status=202, answer=(JSON, "Job"),
        errors=("BAD_REQUEST", "FILE_TOO_LARGE", "QUOTA_EXCEEDED", "UNSUPPORTED_FORMAT",
                "INVALID_OPTIONS", "RATE_LIMITED"), query=RAW_QUERY,
        tags=("jobs",), description="Answers with the job document and `Location`. "
                                    + RAW_NOTE),
    "GET /api/v1/jobs": Op(
        "Your jobs, newest first, a page at a time", answer=(JSON, "JobPage"),
        errors=("BAD_REQUEST",), query=PAGE_QUERY, tags=("jobs",)),
    "GET /api/v1/jobs/<job_id>": Op(
        "One job document", answer=(JSON, "Job"), errors=("NOT_FOUND",), tags=("jobs",)),
    "DELETE /api/v1/jobs/<job_id>": Op(
        "Cancel unfinished tasks, remove every file, forget the job", status=204,
        answer=None, errors=("NOT_FOUND",), tags=("jobs",)),
    "GET /api/v1/jobs/<job_id>/tasks/<int:index>/result": Op(
        "One converted file", answer=("application/octet-stream", None),
        errors=("NOT_FOUND", "NOT_READY"), tags=("jobs",)),
    "GET /api/v1/jobs/<job_id>/archive": Op(
        "A zip of every succeeded output", answer=("application/zip", None),
        errors=("NOT_FOUND", "NOT_READY"), tags=("jobs",)),
    "GET /api/v1/jobs/<job_id>/events": Op(
        "Live job documents (Server-Sent Events)", answer=("text/event-stream", None),
        errors=("NOT_FOUND", "RATE_LIMITED"), tags=("jobs",),
        description="An event `job` with the job document at each change, each with a "
                    "growing `id:`; `Last-Event-ID` resumes; the current state first; "
                    "the stream ends after a final status. A user holds at most "
                    "GATEWAY.sse_streams_per_user open streams (429 with Retry-After past "
                    "it); a stream ends when its token expires or is revoked, or after "
                    "GATEWAY.sse_max_stream_s, with a last `end` event `{\"reason\"}`: "
                    "reconnect with Last-Event-ID."),
    "GET /api/v1/jobs/<job_id>/deliveries": Op(
        "The job's webhook delivery attempts", errors=("NOT_FOUND",), tags=("webhooks",)),
    "POST /api/v1/jobs/<job_id>/deliveries": Op(
        "Deliver the job's webhook again", status=202,
        errors=("NOT_FOUND", "NOT_READY", "REDELIVERY_LIMIT", "RATE_LIMITED"), tags=("webhooks",),
        description="409 NOT_READY while the job is not final or a round is pending; "
                    "409 REDELIVERY_LIMIT past NOTIFIER.max_rounds; 429 with Retry-After."),
    "POST /api/v1/convert": Op(
        "Convert one file: the bytes when done within seconds, else 202 and the job",
        request=(MULTIPART, "ConvertUpload"), bodies=RAW_BODIES,
        answer=("application/octet-stream", None),
        errors=("BAD_REQUEST", "FILE_TOO_LARGE", "QUOTA_EXCEEDED", "UNSUPPORTED_FORMAT",
                "INVALID_OPTIONS", "CORRUPT_IMAGE", "IMAGE_TOO_LARGE", "CONVERSION_TIMEOUT",
                "RATE_LIMITED"), query=RAW_QUERY, tags=("jobs",),
        description="202 with the job document when the conversion takes longer. " + RAW_NOTE),
    # --- admin ---
    "GET /api/v1/admin/stats": Op(
        "Queue depth, consumers, workers, jobs and tasks by status", auth=ADMIN,
        tags=("admin",)),
    "GET /api/v1/admin/logs": Op(
        "Search the logs", auth=ADMIN, errors=("BAD_REQUEST",), query=LOG_QUERY,
        tags=("admin",)),
    # --- operations and pages ---
    "GET /healthz": Op("The process is alive", auth=None, rpc=False, tags=("operations",)),
    "GET /readyz": Op("Broker and database reachable (else 503)", auth=None, rpc=False,
                      tags=("operations",)),
    "GET /metrics": Op("Prometheus metrics", auth=ADMIN, answer=("text/plain", None), rpc=False,
                       tags=("operations",),
                       description="On the API port only to an admin token; Prometheus "
                                   "scrapes the gateway's internal metrics listener "
                                   "(METRICS.host:port), which needs none."),
    "GET /": Op("The web page", auth=None, answer=("text/html", None), rpc=False,
                tags=("pages",)),
    "GET /api/v1/openapi.json": Op("This document", auth=None, rpc=False, tags=("pages",)),
    "GET /api/docs": Op("The interactive API page", auth=None, answer=("text/html", None),
                        rpc=False, tags=("pages",)),
}
