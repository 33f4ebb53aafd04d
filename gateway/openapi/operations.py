"""What each route takes and answers, keyed by "METHOD rule" as Flask registers it.

The generator (gateway/openapi/document.py) walks `app.url_map`: paths,
methods and path parameters come from the routes themselves. This table adds
what a rule cannot say: the summary, who may call it, the body and the
answer, and the SPEC error codes. A route without an entry here still
appears in the document, and tests/web/test_openapi.py fails until it gets
one, so the table cannot silently fall behind the code.
"""
from dataclasses import dataclass, field

JSON = "application/json"
MULTIPART = "multipart/form-data"
ACCESS, REFRESH, ADMIN = "access", "refresh", "admin"


@dataclass(frozen=True)
class Op:
    summary: str
    auth: str | None = ACCESS              # None: no token; ACCESS / REFRESH / ADMIN
    request: tuple | None = None           # (media type, schema name)
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
        rpc=False, tags=("jobs",)),
    "POST /api/v1/jobs": Op(
        "Upload files with one set of options: a job", request=(MULTIPART, "Upload"),
        status=202, answer=(JSON, "Job"),
        errors=("BAD_REQUEST", "FILE_TOO_LARGE", "QUOTA_EXCEEDED", "UNSUPPORTED_FORMAT",
                "INVALID_OPTIONS"),
        tags=("jobs",), description="Answers with the job document and `Location`."),
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
        errors=("NOT_FOUND",), tags=("jobs",),
        description="An event `job` with the job document at each change, each with a "
                    "growing `id:`; `Last-Event-ID` resumes; the current state first; "
                    "the stream ends after a final status."),
    "GET /api/v1/jobs/<job_id>/deliveries": Op(
        "The job's webhook delivery attempts", errors=("NOT_FOUND",), tags=("webhooks",)),
    "POST /api/v1/jobs/<job_id>/deliveries": Op(
        "Deliver the job's webhook again", status=202,
        errors=("NOT_FOUND", "NOT_READY", "REDELIVERY_LIMIT", "RATE_LIMITED"), tags=("webhooks",),
        description="409 NOT_READY while the job is not final or a round is pending; "
                    "409 REDELIVERY_LIMIT past NOTIFIER.max_rounds; 429 with Retry-After."),
    "POST /api/v1/convert": Op(
        "Convert one file: the bytes when done within seconds, else 202 and the job",
        request=(MULTIPART, "ConvertUpload"), answer=("application/octet-stream", None),
        errors=("BAD_REQUEST", "FILE_TOO_LARGE", "QUOTA_EXCEEDED", "UNSUPPORTED_FORMAT",
                "INVALID_OPTIONS", "CORRUPT_IMAGE", "IMAGE_TOO_LARGE", "CONVERSION_TIMEOUT"), tags=("jobs",),
        description="202 with the job document when the conversion takes longer."),
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
    "GET /metrics": Op("Prometheus metrics", auth=None, answer=("text/plain", None), rpc=False,
                       tags=("operations",)),
    "GET /": Op("The web page", auth=None, answer=("text/html", None), rpc=False,
                tags=("pages",)),
    "GET /api/v1/openapi.json": Op("This document", auth=None, rpc=False, tags=("pages",)),
    "GET /api/docs": Op("The interactive API page", auth=None, answer=("text/html", None),
                        rpc=False, tags=("pages",)),
}
