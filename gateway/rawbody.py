"""One image as the request body (SPEC additions, "Raw-body upload").

`POST /jobs` and `POST /convert` also take the image itself as the body,
`Content-Type: image/*` or `application/octet-stream`, with the options in
the query string. There is no multipart parsing and no staging file: the
body goes straight into the job's input file through the same
`store_upload` as a multipart part (gateway/uploads.py), sniffed and
bounded the same way.

The options come either as `options=<JSON>` (the multipart part's very
text) or one query parameter per option field (`format=webp&width=256`),
each value read as JSON when it is JSON (`256`, `true`, `{"x": 0, ...}`)
and as text otherwise (`webp`, `%23ffffff`). Both at once is refused, and
so is a parameter given twice: which one would win is a guess.
"""
import json

from werkzeug.http import parse_options_header

from convertix.errors import InvalidOptions
from convertix.imaging.formats import OUTPUT_TYPES

# Query parameters of a raw-body request that are not option fields.
NOT_OPTIONS = ("options", "callback_url", "filename")
# The Content-Types that mean "the body is the image" (its format is still
# sniffed from the bytes, never taken from the type).
OCTET_STREAM = "application/octet-stream"
DEFAULT_STEM = "upload"


def is_raw(mimetype):
    return mimetype.startswith("image/") or mimetype == OCTET_STREAM


def has_body(request):
    """Whether the request carries a body at all (a length, or chunks)."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return bool(request.content_length) or chunked


class RawBody:
    """The body as one upload: what store_upload reads of a multipart part
    (`stream`, `filename`, `content_length`)."""

    def __init__(self, stream, filename, content_length):
        self.stream = stream
        self.filename = filename
        self.content_length = content_length


def raw_uploads(request):
    """The body as a list of uploads, as `request.files.getlist` gives them: none without a body."""
    if not has_body(request):
        return []
    return [RawBody(request.stream, body_filename(request), request.content_length)]


def body_filename(request):
    """`?filename=`, else the `filename` of a Content-Disposition header, else None."""
    name = request.args.get("filename")
    if name is None:
        _value, params = parse_options_header(request.headers.get("Content-Disposition", ""))
        name = params.get("filename")
    return name


def default_name(fmt):
    """The name of a nameless body: upload.<the usual extension of its sniffed format>."""
    ext = OUTPUT_TYPES[fmt][1] if fmt in OUTPUT_TYPES else fmt
    return f"{DEFAULT_STEM}.{ext}" if ext else DEFAULT_STEM


def query_options(args):
    """The options of a raw-body request: the `options` JSON text as sent,
    a dict of the option fields given one by one, or None when there are none."""
    fields = {}
    for name, values in args.lists():
        if len(values) > 1:
            raise InvalidOptions(f"{name} is given {len(values)} times", details={"field": name})
        if name not in NOT_OPTIONS:
            fields[name] = _value(values[0])
    if "options" in args:
        if fields:
            raise InvalidOptions("send the options either as JSON in 'options' or one "
                                 "parameter each, not both", details={"field": sorted(fields)[0]})
        return args["options"]
    return fields or None


def _value(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return text
