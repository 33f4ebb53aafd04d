"""Reading an upload: what the request sent (multipart parts, or one raw
body: gateway/rawbody.py), sniffed from its first bytes, put in storage
bounded (a rename when the parser wrote it there already:
gateway/storage.py), options validated. Both kinds of request go through
the same functions here.

Everything here refuses up front what can be refused before a job exists:
413 FILE_TOO_LARGE, 415 UNSUPPORTED_FORMAT, 422 INVALID_OPTIONS.
"""
import hashlib
import json
import re
from collections import namedtuple

from convertix import callback
from convertix.errors import ConvertixError, FileTooLarge, InvalidOptions, UnsupportedFormat
from convertix.imaging import sniff
from convertix.imaging.sniff import SNIFF_BYTES
from convertix.options import validate
from gateway.rawbody import RawBody, default_name, has_body, is_raw, query_options, raw_uploads
from gateway.storage import StagedFile, adopt

MULTIPART = "multipart/form-data"


# A file name is the client's text: it is shown, logged and stored (a NUL
# reached PostgreSQL, which refuses it: a 500). Control characters go, as
# does any folder part; what is left is cut to the column's 255 characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MAX_FILENAME = 255


def clean_filename(name, fallback="image"):
    """A printable, folder-free file name (`fallback` when nothing is left)."""
    name = _CONTROL.sub("", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:MAX_FILENAME] or fallback


def upload_name(upload, fmt=None):
    """The name a task records: the client's, cleaned; a nameless raw body
    is called after its sniffed format (upload.jpg), a nameless part "image"."""
    if isinstance(upload, RawBody):
        return clean_filename(upload.filename, default_name(fmt))
    return clean_filename(upload.filename)


# What a job request sent, whichever way: options (JSON text, or a dict of
# query fields), callback_url, and the uploads (werkzeug FileStorage or RawBody).
Sent = namedtuple("Sent", "options callback_url uploads")


def sent(request):
    """What `request` sent, from a multipart form or a raw body: the one
    switch between the two kinds. A raw body is not read here."""
    if request.mimetype == MULTIPART:
        return Sent(request.form.get("options"), request.form.get("callback_url"),
                    request.files.getlist("file"))
    if has_body(request) and not is_raw(request.mimetype):
        raise UnsupportedFormat(
            "send multipart/form-data, or one image as the body with Content-Type "
            "image/* or application/octet-stream",
            details={"content_type": request.mimetype})
    return Sent(query_options(request.args), request.args.get("callback_url"),
                raw_uploads(request))


def check_count(uploads, max_files):
    if not uploads:
        raise ConvertixError("send at least one part named 'file', or an image as the body",
                             code="BAD_REQUEST",
                             details={"field": "file"})
    if len(uploads) > max_files:
        raise ConvertixError(f"at most {max_files} files per job", code="BAD_REQUEST",
                             details={"field": "file", "max_files": max_files})


def store_upload(upload, path, storage, input_formats, max_bytes, hashed=True):
    """Sniff an upload from its first bytes, then stream it to `path`.

    Returns (format, bytes, SHA-256 hex of the bytes: hashed while written,
    never read again; None when `hashed` is false). Nothing is stored for a refused format; a file
    over `max_bytes` is removed again (FileTooLarge).
    """
    name = upload_name(upload)
    if (upload.content_length or 0) > max_bytes:  # said up front (a raw body): not read
        raise FileTooLarge(f"'{name}' is larger than {max_bytes} bytes",
                           details={"filename": name, "max_bytes": max_bytes})
    head = upload.stream.read(SNIFF_BYTES)
    fmt = sniff(head)
    if fmt not in input_formats:
        raise UnsupportedFormat(
            f"'{name}' is not an image format this installation reads"
            + (f" (detected: {fmt})" if fmt else ""),
            details={"filename": name, "detected": fmt})
    if isinstance(upload.stream, StagedFile):  # in the storage folder, bounded: a rename
        adopt(upload.stream, path)
        digest = upload.stream.sha256
        return fmt, upload.stream.size, digest.hexdigest() if digest else None
    digest = hashlib.sha256() if hashed else None
    try:
        size = storage.write_stream(path, head, upload.stream, max_bytes, digest=digest)
    except FileTooLarge as exc:
        raise FileTooLarge(f"'{name}' is larger than {max_bytes} bytes",
                           details={"filename": name, "max_bytes": max_bytes}) from exc
    return fmt, size, digest.hexdigest() if digest else None


def parse_options(raw, output_formats):
    """`raw`: the options as JSON text (a form part, a query parameter), or
    a dict of query fields (gateway/rawbody.py)."""
    if raw is None:
        raise InvalidOptions("options are required (the 'options' part, or query parameters "
                             "with a raw body)", details={"field": "options"})
    if isinstance(raw, dict):
        return validate(raw, output_formats)
    try:
        options = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise InvalidOptions("options must be JSON", details={"field": "options"})
    return validate(options, output_formats)


def parse_callback_url(raw):
    if not raw:
        return None
    reason = callback.problem(raw)  # scheme, host, port range, IPv6 literal
    if reason:
        raise InvalidOptions(f"callback_url {reason}", details={"field": "callback_url"})
    return raw
