"""Every error leaves the gateway as JSON with a SPEC code; never an HTML page."""
import logging

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


def error_response(code, message, details=None, status=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return jsonify(body), status or HTTP_STATUS.get(code, 500)


def init_app(app):
    @app.errorhandler(ConvertixError)
    def convertix_error(exc):
        body, status = error_response(exc.code, exc.message, exc.details)
        if "retry_after_s" in exc.details:  # a 429 says when to come back (SPEC)
            body.headers["Retry-After"] = str(exc.details["retry_after_s"])
        return body, status

    @app.errorhandler(HTTPException)
    def http_error(exc):
        code = HTTP_CODES.get(exc.code, "BAD_REQUEST" if exc.code < 500 else "INTERNAL_ERROR")
        body, status = error_response(code, exc.description or exc.name, status=exc.code)
        for name, value in exc.get_headers():
            if name != "Content-Type":  # e.g. Allow on a 405
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error")
        return error_response("INTERNAL_ERROR", "internal error")
