"""The log context: the fields that tie a line to a request and a job.

One `ContextVar` holds them. Gunicorn's threads and eventlet's greenlets
(greenlet >= 1.0 gives every greenlet its own context) each see their own,
so a request or a Nameko worker binds its fields and never sees another's.

Between processes the fields travel as Nameko context data, under the
`LOG_CONTEXT_*` keys: the gateway's RPC proxy sends them, and Nameko carries
context data on through RPC, events and published messages by itself.
"""
import contextlib
import contextvars
import re
import uuid

from convertix.contract import (
    LOG_CONTEXT_JOB_ID,
    LOG_CONTEXT_TASK_INDEX,
    LOG_CONTEXT_TRACE_ID,
    LOG_CONTEXT_USER_ID,
)

# context field -> Nameko context-data key
NAMEKO_KEYS = {
    "trace_id": LOG_CONTEXT_TRACE_ID,
    "job_id": LOG_CONTEXT_JOB_ID,
    "task_index": LOG_CONTEXT_TASK_INDEX,
    "user_id": LOG_CONTEXT_USER_ID,
}
FIELDS = tuple(NAMEKO_KEYS) + ("service",)  # service: the Nameko service a worker runs for

_context = contextvars.ContextVar("convertix_log_context", default={})
_providers = []  # callables giving fields known elsewhere (the gateway's JWT)

TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current():
    """The fields bound here, plus those the providers know; None values dropped."""
    fields = dict(_context.get())
    for provider in _providers:
        for key, value in (provider() or {}).items():
            fields.setdefault(key, value)
    return {key: value for key, value in fields.items() if value is not None}


def bind(**fields):
    """Add fields to this thread's (greenlet's) context; returns a token for `reset`."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log context fields: {sorted(unknown)}")
    return _context.set({**_context.get(), **fields})


def reset(token):
    _context.reset(token)


def clear():
    _context.set({})


@contextlib.contextmanager
def bound(**fields):
    token = bind(**fields)
    try:
        yield
    finally:
        reset(token)


def add_provider(provider):
    if provider not in _providers:
        _providers.append(provider)


def new_trace_id():
    return uuid.uuid4().hex  # 32 hex digits, as a W3C trace id


def trace_id_from_headers(headers):
    """The caller's trace id (W3C `traceparent`, else `X-Request-ID`), or a new one."""
    match = TRACEPARENT.match((headers.get("traceparent") or "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    request_id = (headers.get("X-Request-ID") or "").strip()
    if REQUEST_ID.match(request_id):
        return request_id
    return new_trace_id()


def to_nameko(fields=None):
    """Context data for Nameko: only the fields that travel, never None."""
    fields = current() if fields is None else fields
    return {NAMEKO_KEYS[key]: value for key, value in fields.items()
            if key in NAMEKO_KEYS and value is not None}


def from_nameko(data):
    """The fields found in a worker's context data."""
    return {key: data[name] for key, name in NAMEKO_KEYS.items()
            if data.get(name) is not None}
