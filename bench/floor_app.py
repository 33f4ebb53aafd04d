"""The bare WSGI app of bench/floor.py: the least an upload can cost on
gunicorn's gevent worker, with nothing of Convertix in the way.

  POST /raw        the body, read 1 MiB at a time, written to a file, removed
  POST /multipart  every file part parsed by werkzeug's form parser (as
                   Flask's request.files would), written to a file, removed
  POST /flask/raw  /raw through a bare Flask app (`flask_app`): what the
                   framework adds, before any extension

Both answer 3 kB, about a B result.
"""
import io
import os
import tempfile

from werkzeug.formparser import parse_form_data

FOLDER = os.environ.get("FLOOR_DIR") or tempfile.gettempdir()
ANSWER = b"x" * 3000
READ = 1 << 20


def _to_file(read):
    fd, path = tempfile.mkstemp(dir=FOLDER)
    with os.fdopen(fd, "wb") as out:
        while chunk := read(READ):
            out.write(chunk)
    os.remove(path)


class _Body(io.RawIOBase):
    """The body for a BufferedReader of 1 MiB (as gateway/storage.py's
    LargeReads): the parser's 64 KiB reads would make gunicorn copy its
    read-ahead buffer on each."""

    def __init__(self, stream):
        self.stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def app(environ, start_response):
    if environ["PATH_INFO"].startswith("/flask/"):
        return flask_app(environ, start_response)
    if environ["PATH_INFO"] == "/raw":
        _to_file(environ["wsgi.input"].read)
    else:
        environ["wsgi.input"] = io.BufferedReader(_Body(environ["wsgi.input"]), READ)
        _stream, _form, files = parse_form_data(environ)
        for upload in files.values():
            _to_file(upload.stream.read)
            upload.close()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]


def _flask_app():
    from flask import Flask, request

    flask_app = Flask(__name__)

    @flask_app.post("/flask/raw")
    def raw():
        _to_file(request.stream.read)
        return ANSWER, 200, {"Content-Type": "application/octet-stream"}
    return flask_app


flask_app = _flask_app()
