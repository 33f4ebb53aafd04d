"""gateway/multipart.py reads a body part by part into what werkzeug's own
parser makes of it all at once: the same fields and files, the same 413s,
and a Malformed where werkzeug's silent parser gave an empty form."""
import io

import pytest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.multipart import Malformed, parts

B = "b0undary"


class Parsed(Request):
    max_form_memory_size = 100_000   # more than one read (64 KiB): as Flask's default is
    max_form_parts = 6

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return io.BytesIO()


def part(name, value, filename=None):
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{B}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def request(body, boundary=B):
    return Parsed(EnvironBuilder(method="POST", input_stream=io.BytesIO(body),
                                 content_type=f"multipart/form-data; boundary={boundary}",
                                 content_length=len(body)).get_environ())


def streamed(body, boundary=B):
    fields, files = [], []
    for p in parts(request(body, boundary)):
        if p.kind == "field":
            fields.append((p.name, p.value))
        else:
            files.append((p.name, p.value.filename, p.value.stream.read()))
    return fields, files


def werkzeugs(body, boundary=B):
    parsed = request(body, boundary)
    return (list(parsed.form.items(multi=True)),
            [(name, f.filename, f.stream.read()) for name, f in parsed.files.items(multi=True)])


END = f"--{B}--\r\n".encode()
BODIES = [
    part("options", b'{"format": "png"}') + part("file", b"\x89PNG" * 70_000, "a.png")
    + part("file", b"GIF8", "b.gif") + END,
    b"a preamble\r\n" + part("file", b"x", "a") + part("callback_url", b"https://e/x")
    + part("file", b"\r\n--not-it\r\n", "c") + END + b"an epilogue",
    part("options", "caf\u00e9".encode()) + END,
]


@pytest.mark.parametrize("body", BODIES)
def test_the_same_parts_as_werkzeug(body):
    assert streamed(body) == werkzeugs(body)


@pytest.mark.parametrize("body", [
    part("options", b"x" * 100_001) + END,                        # a field too large
    b"".join(part("file", b"x", str(n)) for n in range(7)) + END,  # too many parts
])
def test_the_same_limits(body):
    with pytest.raises(RequestEntityTooLarge):
        werkzeugs(body)
    with pytest.raises(RequestEntityTooLarge):
        streamed(body)


@pytest.mark.parametrize("body, boundary", [
    (f"--{B}\r\nno disposition\r\n\r\nx\r\n".encode() + END, B),
    (part("options", b"{}") + part("file", b"xy", "a"), B),  # cut off inside a part
    (part("options", b"{}") + END, ""),
])
def test_what_werkzeug_takes_for_an_empty_form_is_malformed(body, boundary):
    assert werkzeugs(body, boundary) == ([], [])
    with pytest.raises(Malformed):
        streamed(body, boundary)
