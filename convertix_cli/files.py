"""Which local files to upload: named files as they are, folders walked for
files whose name says a format the server reads (GET /formats); the server
still sniffs every byte. How a batch of them is sent: upload_body."""
import json
from pathlib import Path

OCTET_STREAM = "application/octet-stream"

# file name ending -> format name of GET /formats
ENDINGS = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg", "png": "png", "webp": "webp",
    "avif": "avif", "gif": "gif", "tif": "tiff", "tiff": "tiff", "bmp": "bmp", "dib": "bmp",
    "ico": "ico", "heic": "heic", "heif": "heic", "svg": "svg", "pdf": "pdf", "psd": "psd",
    "jp2": "jp2", "tga": "tga", "ppm": "ppm", "pgm": "ppm", "pbm": "ppm", "pnm": "ppm",
}


def readable(path, input_formats):
    ending = path.suffix.lower().lstrip(".")
    return ending in input_formats or ENDINGS.get(ending) in input_formats


def collect(arguments, input_formats):
    """The files to send, in a stable order; folders contribute readable images only."""
    found = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and not p.name.startswith(".")
                            and readable(p, input_formats))
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
