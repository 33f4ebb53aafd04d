"""Error codes of the SPEC, and the one table that maps them to HTTP statuses.

Every failure that reaches a user is a `ConvertixError` carrying a code from
this table; the gateway turns it into `{"error": {"code", "message", "details"}}`
and the converter into a task's `error` field.
"""

try:  # registered with nameko where they are defined, so they cross RPC as themselves
    from nameko.exceptions import deserialize_to_instance as _crosses_rpc
except ImportError:  # the core stays usable (and importable) without nameko
    def _crosses_rpc(cls):
        return cls

# code -> HTTP status. One table, read by the gateway's error handler.
HTTP_STATUS = {
    "BAD_REQUEST": 400,
    "WEAK_PASSWORD": 400,
    "NOT_AUTHENTICATED": 401,
    "INVALID_CREDENTIALS": 401,
    "TOKEN_EXPIRED": 401,
    "TOKEN_INVALID": 401,
    "TOKEN_REVOKED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "USERNAME_TAKEN": 409,
    "NOT_READY": 409,
    "REDELIVERY_LIMIT": 409,
    "FILE_TOO_LARGE": 413,
    "IMAGE_TOO_LARGE": 413,
    "QUOTA_EXCEEDED": 413,
    "UNSUPPORTED_FORMAT": 415,
    "INVALID_OPTIONS": 422,
    "CORRUPT_IMAGE": 422,
    "CONVERSION_TIMEOUT": 422,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "BACKEND_UNAVAILABLE": 503,
}

# The codes a task may end with (SPEC, "Task error codes").
TASK_ERROR_CODES = (
    "UNSUPPORTED_FORMAT", "CORRUPT_IMAGE", "IMAGE_TOO_LARGE", "FILE_TOO_LARGE",
    "INVALID_OPTIONS", "CONVERSION_TIMEOUT", "INTERNAL_ERROR",
)


class ConvertixError(Exception):
    """A failure with a SPEC error code, a human message and optional details."""

    code = "INTERNAL_ERROR"

    def __init_subclass__(cls, **kwargs):
        # nameko rebuilds a registered class from its args on the caller's
        # side; any other exception arrives as a RemoteError.
        super().__init_subclass__(**kwargs)
        _crosses_rpc(cls)

    def __init__(self, message, details=None, code=None):
        if code is not None:
            self.code = code
        self.message = message
        self.details = details or {}
        # All three in args, so that pickling and nameko's RPC error
        # serialisation rebuild the same error on the other side.
        super().__init__(message, self.details, self.code)

    def __str__(self):
        return self.message

    def to_dict(self):
        return {"code": self.code, "message": self.message, "details": self.details}


_crosses_rpc(ConvertixError)


def error(code, message, **details):
    """Build a ConvertixError of the subclass registered for `code`."""
    cls = _BY_CODE.get(code, ConvertixError)
    return cls(message, details=details, code=code)


class InvalidOptions(ConvertixError):
    code = "INVALID_OPTIONS"


class UnsupportedFormat(ConvertixError):
    code = "UNSUPPORTED_FORMAT"


class CorruptImage(ConvertixError):
    code = "CORRUPT_IMAGE"


class ImageTooLarge(ConvertixError):
    code = "IMAGE_TOO_LARGE"


class FileTooLarge(ConvertixError):
    code = "FILE_TOO_LARGE"


class QuotaExceeded(ConvertixError):
    code = "QUOTA_EXCEEDED"


class ConversionTimeout(ConvertixError):
    code = "CONVERSION_TIMEOUT"


class NotFound(ConvertixError):
    code = "NOT_FOUND"


class NotReady(ConvertixError):
    code = "NOT_READY"


class RedeliveryLimit(ConvertixError):
    """A job's webhook was sent in as many rounds as an installation allows."""
    code = "REDELIVERY_LIMIT"


class UsernameTaken(ConvertixError):
    code = "USERNAME_TAKEN"


class WeakPassword(ConvertixError):
    code = "WEAK_PASSWORD"


class InvalidCredentials(ConvertixError):
    code = "INVALID_CREDENTIALS"


_BY_CODE = {cls.code: cls for cls in ConvertixError.__subclasses__()}
