"""Which local files to upload: named files as they are, folders walked for
files whose name ends in an ending of a format the server reads (GET /formats,
`input` and `extensions`: the server's table, not a copy); the server still
sniffs every byte. How a batch of them is sent: upload_body."""
import json
from pathlib import Path

OCTET_STREAM = "application/octet-stream"


def endings_of(formats):
    """File name ending -> input format, from the server's GET /formats answer.
    A server that does not send `extensions` (older than them): an ending that
    is a format's own name (png, webp ...) still counts."""
    extensions = formats.get("extensions") or {}
    endings = {}
    for fmt in formats["input"]:
        for ending in [fmt, *extensions.get(fmt, [])]:
            endings.setdefault(ending.lower(), fmt)
    return endings


def readable(path, endings):
    return path.suffix.lower().lstrip(".") in endings


def collect(arguments, endings):
    """The files to send, in a stable order; folders contribute readable images only."""
    found = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and not p.name.startswith(".")
                            and readable(p, endings))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(argument)
    return found


def batches(paths, size):
    for start in range(0, len(paths), size):
        yield paths[start:start + size]


def upload_body(paths, options):
    """The httpx arguments of `POST /jobs` for `paths`: one file goes as the
    raw body (no multipart to build or parse; the server sniffs the bytes,
    so no Content-Type is guessed from the name), several as multipart parts."""
    if len(paths) == 1:
        return {"content": paths[0].read_bytes(), "headers": {"Content-Type": OCTET_STREAM},
                "params": {"options": json.dumps(options), "filename": paths[0].name}}
    return {"files": [("file", (path.name, path.read_bytes())) for path in paths],
            "data": {"options": json.dumps(options)}}
