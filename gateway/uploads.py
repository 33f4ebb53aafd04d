"""Reading an upload: bounded, sniffed from its bytes, options validated.

Everything here refuses up front what can be refused before a job exists:
413 FILE_TOO_LARGE, 415 UNSUPPORTED_FORMAT, 422 INVALID_OPTIONS.
"""
import json
from urllib.parse import urlparse

from convertix.errors import ConvertixError, FileTooLarge, InvalidOptions, UnsupportedFormat
from convertix.imaging import sniff
from convertix.options import validate


def read_bounded(upload, max_bytes):
    data = upload.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(f"'{upload.filename}' is larger than {max_bytes} bytes",
                           details={"filename": upload.filename, "max_bytes": max_bytes})
    return data


def accept_files(uploads, input_formats, max_bytes, max_files):
    """[(filename, data, format)] for the `file` parts, or the first refusal."""
    if not uploads:
        raise ConvertixError("send at least one part named 'file'", code="BAD_REQUEST",
                             details={"field": "file"})
    if len(uploads) > max_files:
        raise ConvertixError(f"at most {max_files} files per job", code="BAD_REQUEST",
                             details={"field": "file", "max_files": max_files})
    accepted = []
    for upload in uploads:
        data = read_bounded(upload, max_bytes)
        fmt = sniff(data)
        if fmt not in input_formats:
            raise UnsupportedFormat(
                f"'{upload.filename}' is not an image format this installation reads"
                + (f" (detected: {fmt})" if fmt else ""),
                details={"filename": upload.filename, "detected": fmt})
        accepted.append((upload.filename or "image", data, fmt))
    return accepted


def parse_options(raw, output_formats):
    if raw is None:
        raise InvalidOptions("the 'options' part is required", details={"field": "options"})
    try:
        options = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise InvalidOptions("options must be JSON", details={"field": "options"})
    return validate(options, output_formats)


def parse_callback_url(raw):
    if not raw:
        return None
    parts = urlparse(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(raw) > 2048:
        raise InvalidOptions("callback_url must be an http(s) URL",
                             details={"field": "callback_url"})
    return raw
