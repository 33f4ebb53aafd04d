"""A raw-body upload's pure parts (gateway/rawbody.py): the options read from
the query string, the file's name, and the CLI's choice of body."""
import json

import pytest
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from convertix.errors import InvalidOptions
from convertix_cli.files import OCTET_STREAM, upload_body
from gateway.rawbody import body_filename, default_name, has_body, is_raw, query_options


@pytest.mark.parametrize("query, options", [
    ([], None),
    ([("format", "webp"), ("width", "256"), ("enlarge", "true")],
     {"format": "webp", "width": 256, "enlarge": True}),
    ([("format", "png"), ("background", "#ff0000"), ("rotate", "-90.5")],
     {"format": "png", "background": "#ff0000", "rotate": -90.5}),
    ([("format", "png"), ("crop", '{"x": 0, "y": 1, "width": 2, "height": 3}')],
     {"format": "png", "crop": {"x": 0, "y": 1, "width": 2, "height": 3}}),
    ([("format", "png"), ("width", "")], {"format": "png", "width": ""}),  # validate() says
    ([("format", "png"), ("widht", "3")], {"format": "png", "widht": 3}),  # validate() says
    ([("options", '{"format": "webp"}'), ("callback_url", "https://x.test/"),
      ("filename", "a.png")], '{"format": "webp"}'),
    ([("options", "[" * 10_000)], "[" * 10_000),  # parse_options refuses it as multipart's
    ([("callback_url", "https://x.test/"), ("filename", "a.png")], None),
    ([("format", "[" * 10_000)], {"format": "[" * 10_000}),  # not JSON: text
])
def test_query_options(query, options):
    assert query_options(MultiDict(query)) == options


@pytest.mark.parametrize("query, field", [
    ([("width", "1"), ("width", "2")], "width"),
    ([("options", "{}"), ("options", "{}")], "options"),
    ([("options", '{"format": "png"}'), ("width", "3")], "width"),
    ([("filename", "a"), ("filename", "b")], "filename"),
])
def test_ambiguous_query_options_are_refused(query, field):
    with pytest.raises(InvalidOptions) as refused:
        query_options(MultiDict(query))
    assert refused.value.details == {"field": field}


@pytest.mark.parametrize("fmt, name", [
    ("jpeg", "upload.jpg"), ("tiff", "upload.tif"), ("png", "upload.png"),
    ("psd", "upload.psd"), (None, "upload"),
])
def test_default_name(fmt, name):
    assert default_name(fmt) == name


@pytest.mark.parametrize("query, headers, name", [
    ("", {}, None),
    ("?filename=cat.jpg", {}, "cat.jpg"),
    ("", {"Content-Disposition": 'attachment; filename="dog photo.png"'}, "dog photo.png"),
    ("", {"Content-Disposition": "inline; filename*=UTF-8''%E2%82%AC.png"}, "€.png"),
    ("?filename=a.png", {"Content-Disposition": 'attachment; filename="b.png"'}, "a.png"),
    ("", {"Content-Disposition": "attachment"}, None),
])
def test_body_filename(query, headers, name):
    request = Request(EnvironBuilder(path="/" + query, method="POST", headers=headers,
                                     data=b"x").get_environ())
    assert body_filename(request) == name


@pytest.mark.parametrize("mimetype, raw", [
    ("image/jpeg", True), ("image/anything", True), ("application/octet-stream", True),
    ("text/plain", False), ("multipart/form-data", False),
    ("application/x-www-form-urlencoded", False), ("", False),
])
def test_which_content_types_are_a_raw_body(mimetype, raw):
    assert is_raw(mimetype) is raw


@pytest.mark.parametrize("data, headers, body", [
    (b"", {}, False), (b"x", {}, True), (None, {"Transfer-Encoding": "chunked"}, True),
])
def test_has_body(data, headers, body):
    request = Request(EnvironBuilder(method="POST", data=data, headers=headers).get_environ())
    assert has_body(request) is body


def test_the_cli_sends_one_file_as_the_body_and_several_as_parts(tmp_path):
    one, two = tmp_path / "a.png", tmp_path / "b.jpg"
    one.write_bytes(b"first")
    two.write_bytes(b"second")
    options = {"format": "webp", "width": 10}
    assert upload_body([one], options) == {
        "content": b"first", "headers": {"Content-Type": OCTET_STREAM},
        "params": {"options": json.dumps(options), "filename": "a.png"}}
    assert upload_body([one, two], options) == {
        "files": [("file", ("a.png", b"first")), ("file", ("b.jpg", b"second"))],
        "data": {"options": json.dumps(options)}}
