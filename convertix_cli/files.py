"""Which local files to upload: named files as they are, folders walked for
files whose name says a format the server reads (GET /formats); the server
still sniffs every byte."""
from pathlib import Path

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
