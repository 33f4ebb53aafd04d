"""The shared storage folder as a Flask extension, and uploads written
straight into it.

An uploaded file part is written by the multipart parser directly into a
staging folder inside the storage root (`<root>/.incoming/`), one write per
chunk the parser hands over and no buffer of our own; accepting it is a
rename into the job's folder. Werkzeug's default would write each part to a
temporary file elsewhere, and the job's copy would then be read from there
and written again: two more passes over every byte (24 x 5 MB cost ~0.6 s
of gateway CPU that way).

The body itself is read from gunicorn in 1 MiB reads (LargeReads).

A part larger than LIMITS.max_file_bytes stops being written at once
(FileTooLarge, 413). Staged files that no job took are removed when the
request ends; those of a killed gateway when the next one starts.
"""
import hashlib
import io
import os
import tempfile
import time

from flask import Request, current_app, g

from convertix.errors import FileTooLarge
from convertix.storage import Storage, private_dirs
from gateway.settings import default

EXTENSION = "convertix.storage"
INCOMING = ".incoming"
STALE_AFTER_S = 3600   # older staged files belong to no request now
READ_SIZE = 2**20      # request body reads (LargeReads)
PARSER_READ = 2**16    # what werkzeug's multipart parser asks for per read


def init_storage(app):
    store = Storage(app.config["STORAGE_ROOT"])
    app.extensions[EXTENSION] = store
    app.request_class = StagingRequest
    app.wsgi_app = LargeReads(app.wsgi_app)
    app.teardown_request(_remove_staged)
    _remove_stale(incoming_dir(store))


def storage():
    return current_app.extensions[EXTENSION]


def incoming_dir(store):
    return os.path.join(store.root, INCOMING)


class _RawBody(io.RawIOBase):
    def __init__(self, body):
        self.body = body

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.body.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class LargeReads:
    """WSGI middleware: a large request body is read from the server 1 MiB
    at a time, whatever size the multipart parser asks for (64 KiB).

    gunicorn's body reader copies what it has read ahead on every read()
    (up to 1 MiB per call), so 64 KiB reads cost it ~16 copies of each byte:
    0.7 s of CPU for 140 MB here, against 0.3 s through this buffer.
    """

    def __init__(self, app, threshold=PARSER_READ):
        # every body the parser would read in more than one call: a 500 KB
        # photo read 64 KiB at a time cost more CPU than its parsing
        self.app = app
        self.threshold = threshold

    def __call__(self, environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.threshold:
            environ["wsgi.input"] = io.BufferedReader(_RawBody(environ["wsgi.input"]), READ_SIZE)
        return self.app(environ, start_response)


class StagedFile:
    """A file part being written into the staging folder (what the parser
    gets from Request._get_file_stream, and FileStorage.stream wraps)."""

    def __init__(self, folder, filename, limit, hashed=True):
        private_dirs(folder)  # 0700, as the job folders
        fd, self.path = tempfile.mkstemp(dir=folder, prefix="up-")
        self.file = os.fdopen(fd, "w+b", buffering=0)  # one syscall per parser chunk
        self.filename = filename
        self.limit = limit
        self.size = 0
        # the content's hash as it passes, for result reuse
        # (services/jobs/reuse.py); None when reuse is off: ~0.7 ms per MB
        self.sha256 = hashlib.sha256() if hashed else None

    def write(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise FileTooLarge(f"'{self.filename}' is larger than {self.limit} bytes",
                               details={"filename": self.filename, "max_bytes": self.limit})
        if self.sha256 is not None:
            self.sha256.update(data)
        view = memoryview(data)
        while view:
            view = view[self.file.write(view):]
        return len(data)

    def __getattr__(self, name):  # read, seek, tell, close...
        return getattr(self.file, name)


class StagingRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        staged = StagedFile(incoming_dir(storage()), filename or "image",
                            current_app.config["MAX_FILE_BYTES"],
                            hashed=reuse_on(current_app))
        g.setdefault("staged_uploads", []).append(staged)
        return staged


def reuse_on(app):
    """Whether uploads are hashed for result reuse (JOBS.reuse_results)."""
    return bool(app.config.get("REUSE_RESULTS", default("REUSE_RESULTS")))


def adopt(staged, path):
    """Make a staged upload `path`, atomically and durably (the job's input)."""
    os.fsync(staged.file.fileno())
    private_dirs(os.path.dirname(path))
    os.replace(staged.path, path)
    staged.path = None


def _remove_staged(_exc=None):
    for staged in g.pop("staged_uploads", ()):
        staged.file.close()
        if staged.path:
            try:
                os.remove(staged.path)
            except FileNotFoundError:
                pass


def _remove_stale(folder):
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            if time.time() - os.stat(path).st_mtime > STALE_AFTER_S:
                os.remove(path)
        except OSError:
            pass
