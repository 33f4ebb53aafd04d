"""A multipart body read part by part (docs/DESIGN.md "Uploads overlap conversion").

`request.files` parses the whole body before a view sees any of it; this
reads the same body through werkzeug's own decoder (MultipartDecoder, as
MultiPartParser does, with the request's limits and its stream factory:
the staging folder of gateway/storage.py) and yields each part as soon as
it has ended, so that a job's first files are converting while its later
ones are still on their way.

What the parser would raise, this raises at the same point of the body: a
file past LIMITS.max_file_bytes (StagedFile), a field past
MAX_FORM_MEMORY_SIZE or more parts than MAX_FORM_PARTS (413). A body that
is not valid multipart raises Malformed where werkzeug's silent parser
would have given an empty form.
"""
from collections import namedtuple

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

READ_SIZE = 64 * 1024  # werkzeug's parser's reads

# A part that has ended: ("field", name, text) or ("file", name, FileStorage).
Part = namedtuple("Part", "kind name value")


class Malformed(ValueError):
    """Not a multipart body werkzeug reads (it would have parsed an empty form)."""


def parts(request):
    """Yield the request's parts in body order, each once it has ended."""
    boundary = request.mimetype_params.get("boundary", "").encode("ascii", "replace")
    if not boundary:
        raise Malformed("missing boundary")
    decoder = MultipartDecoder(boundary, max_form_memory_size=request.max_form_memory_size,
                               max_parts=request.max_form_parts)
    charset = MultiPartParser().get_part_charset
    stream, limit = request.stream, request.max_form_memory_size
    current, container, size = None, None, 0
    while True:
        data = stream.read(READ_SIZE)
        try:
            decoder.receive_data(data or None)  # None: the end of the body
            event = decoder.next_event()
        except ValueError as exc:
            raise Malformed(str(exc)) from exc
        while not isinstance(event, (Epilogue, NeedData)):
            if isinstance(event, Field):
                current, container, size = event, [], 0
            elif isinstance(event, File):
                current, size = event, None
                container = request._get_file_stream(  # staged: gateway/storage.py
                    request.content_length, event.headers.get("content-type"),
                    event.filename, 0)
            elif isinstance(event, Data):
                if size is not None:
                    size += len(event.data)
                    if limit is not None and size > limit:
                        raise RequestEntityTooLarge()
                    container.append(event.data)
                else:
                    container.write(event.data)
                if not event.more_data:
                    yield _ended(current, container, charset)
            try:
                event = decoder.next_event()
            except ValueError as exc:
                raise Malformed(str(exc)) from exc
        if not data:
            return
        if isinstance(event, Epilogue):  # what follows is read and ignored, as werkzeug does
            while stream.read(READ_SIZE):
                pass
            return


def _ended(part, container, charset):
    if isinstance(part, Field):
        return Part("field", part.name, b"".join(container).decode(charset(part.headers),
                                                                    "replace"))
    container.seek(0)
    return Part("file", part.name, FileStorage(container, part.filename, part.name,
                                               headers=part.headers))
