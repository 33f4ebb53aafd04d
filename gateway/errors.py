"""Every error leaves the gateway as JSON with a SPEC code; never an HTML page.

Every 429 carries `Retry-After` (seconds, SPEC "Errors"): when the rate
limiter's window resets, when a held slot surely frees (`retry_after_s` on
the error, see `too_many`), else RETRY_AFTER_DEFAULT_S; so does every 503
of ours (a backend away: try again, here or on another gateway). Set here, where every error becomes a response, and checked
once more on the way out, so no 429 leaves without it.
"""
import logging
import math
import time

from flask import jsonify
from werkzeug.exceptions import HTTPException

from convertix.errors import HTTP_STATUS, ConvertixError

log = logging.getLogger(__name__)

# Werkzeug's HTTP errors -> our codes
HTTP_CODES = {
    400: "BAD_REQUEST", 401: "NOT_AUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 413: "FILE_TOO_LARGE", 415: "UNSUPPORTED_FORMAT",
    429: "RATE_LIMITED",
}
RETRY_AFTER = "Retry-After"
RETRY_AFTER_DEFAULT_S = 1   # a 429 that knows no better: try again in a second


def too_many(message, retry_after_s, code="RATE_LIMITED", **details):
    """A ConvertixError (429 by its code) that says when to try again."""
    exc = ConvertixError(message, code=code, details=details)
    exc.retry_after_s = retry_after_s
    return exc


def seconds(value):
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(value))


def error_response(code, message, details=None, status=None, retry_after_s=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = jsonify(body)
    status = status or HTTP_STATUS.get(code, 500)
    if retry_after_s is None and status in (429, 503):
        retry_after_s = RETRY_AFTER_DEFAULT_S
    if retry_after_s is not None:
        response.headers[RETRY_AFTER] = str(seconds(retry_after_s))
    return response, status


def _limiter_retry_after(exc):
    """Seconds until the breached rate limit's window resets (Flask-Limiter)."""
    from flask_limiter import RateLimitExceeded
    if not isinstance(exc, RateLimitExceeded):
        return None
    from gateway.limits import limiter
    try:
        return limiter.current_limit.reset_at - time.time()
    except Exception:  # the store went away meanwhile: the default
        log.warning("rate limit: no reset time; Retry-After is the default", exc_info=True)
        return None


def _never_without_retry_after(response):
    if response.status_code == 429 and RETRY_AFTER not in response.headers:
        response.headers[RETRY_AFTER] = str(RETRY_AFTER_DEFAULT_S)
    return response


def init_app(app):
    @app.errorhandler(ConvertixError)
    def convertix_error(exc):
        # a 429 says when to come back (SPEC): from the error, or its details
        retry_after_s = getattr(exc, "retry_after_s", None) or exc.details.get("retry_after_s")
        return error_response(exc.code, exc.message, exc.details, retry_after_s=retry_after_s)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        code = HTTP_CODES.get(exc.code, "BAD_REQUEST" if exc.code < 500 else "INTERNAL_ERROR")
        body, status = error_response(code, exc.description or exc.name, status=exc.code,
                                      retry_after_s=_limiter_retry_after(exc))
        for name, value in exc.get_headers():
            if name != "Content-Type":  # e.g. Allow on a 405
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error")
        return error_response("INTERNAL_ERROR", "internal error")

    app.after_request(_never_without_retry_after)
