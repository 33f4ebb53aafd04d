"""A raw-body upload (SPEC additions, "Raw-body upload"): one image as the
request body of POST /jobs and /convert, options in the query string. It
gives what multipart gives: the same result for every corpus format we read,
the same errors, the same job document, the same quota and per-user /convert
concurrency. Real RabbitMQ, database and converter behind the gateway."""
import io
import json
import os
from urllib.parse import urlencode

import pytest
from PIL import Image, ImageChops

from convertix.contract import JOB_FINAL
from gateway import create_app
from gateway.settings import settings_from
from gateway.storage import INCOMING
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.corpus_cases import ROWS, VALID
from tests.helpers import corpus_bytes, wait_until
from tests.integration.conftest import jpeg_bytes, png_bytes

MAX_FILE = 1_000_000
OCTET = "application/octet-stream"
TEXT = b"just some text, not an image at all"
PIXEL_TOLERANCE = 2  # per channel, 0-255


def smallest_per_format():
    """One readable valid corpus file per manifest format: the smallest."""
    rows = {row["path"]: row for row in ROWS}
    chosen = {}
    for path in VALID:
        row = rows[path]
        if row["format"] not in chosen or \
                int(row["size_bytes"]) < int(rows[chosen[row["format"]]]["size_bytes"]):
            chosen[row["format"]] = path
    return sorted(chosen.items())


PER_FORMAT = smallest_per_format()


def make_app(runner_factory, rabbit_config, sqlite_url, storage_root, jobs=None, **settings):
    config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root,
                                 JOBS=jobs or {})
    runner_factory(config, AccountsService, JobsService, ConverterService).start()
    limits = {"max_file_bytes": MAX_FILE, "max_files": len(PER_FORMAT) + 5,
              "max_request_bytes": 10 * MAX_FILE}
    return create_app({**settings_from({**config, "LIMITS": limits}), "TESTING": True,
                       "JWT_SECRET_KEY": TEST_JWT_SECRET, "SYNC_CONVERT_TIMEOUT_S": 60,
                       **settings})


@pytest.fixture
def app(runner_factory, rabbit_config, sqlite_url, storage_root):
    app = make_app(runner_factory, rabbit_config, sqlite_url, storage_root)
    yield app
    app.extensions["convertix.rpc"].close()


def sign_up(http, name):
    password = "pass word 1"
    assert http.post("/api/v1/auth/register",
                     json={"username": name, "password": password}).status_code == 201
    token = http.post("/api/v1/auth/login", json={"username": name, "password": password}) \
        .get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def multipart(http, auth, files, options, path="/api/v1/jobs", **fields):
    data = {"file": [(io.BytesIO(content), name) for name, content in files], **fields}
    if options is not None:
        data["options"] = options if isinstance(options, str) else json.dumps(options)
    return http.post(path, headers=auth, content_type="multipart/form-data", data=data)


def raw(http, auth, body, query, path="/api/v1/jobs", content_type="image/png", headers=None):
    url = path + ("?" + urlencode(query) if query else "")
    return http.post(url, headers={**auth, **(headers or {})}, data=body,
                     content_type=content_type)


def wait_final(http, auth, job_id, timeout=120):
    def final():
        doc = http.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
        return doc if doc["status"] in JOB_FINAL else None
    return wait_until(final, timeout=timeout, message=f"job {job_id} to finish")


def result_of_convert(http, auth, answer):
    """The bytes of a /convert: in the answer, or (202: it outlived the wait) fetched."""
    if answer.status_code == 202:
        doc = wait_final(http, auth, answer.get_json()["id"])
        answer = http.get(f"/api/v1/jobs/{doc['id']}/tasks/0/result", headers=auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.data, answer.headers.get("X-Convertix-Job")


def recorded(http, auth, job_id):
    """A /convert's job document: it is recorded just after the answer (within 1 s)."""
    def found():
        answer = http.get(f"/api/v1/jobs/{job_id}", headers=auth)
        return answer.get_json() if answer.status_code == 200 else None
    return wait_until(found, timeout=10, message=f"job {job_id} recorded")


def max_difference(one, other):
    if one.tobytes() == other.tobytes():
        return 0
    one, other = one.convert("RGBA"), other.convert("RGBA")
    return max(high for _low, high in ImageChops.difference(one, other).getextrema())


def staged(storage_root):
    folder = os.path.join(storage_root, INCOMING)
    return os.listdir(folder) if os.path.isdir(folder) else []


def nothing_stored(storage_root):
    jobs = os.path.join(storage_root, "jobs")
    return (not os.path.isdir(jobs) or os.listdir(jobs) == []) and staged(storage_root) == []


def test_every_corpus_format_converts_as_it_does_through_multipart(app):
    http = app.test_client()
    # two users: one user's second upload of the same bytes would be a reused result
    by_parts, by_body = sign_up(http, "parts"), sign_up(http, "body")
    options = {"format": "png", "animated": False}
    files = [(path.rsplit("/", 1)[1], corpus_bytes(path)) for _fmt, path in PER_FORMAT]
    answer = multipart(http, by_parts, files, options)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    reference = wait_final(http, by_parts, answer.get_json()["id"], timeout=300)

    for number, ((fmt, path), (name, data), expected) in enumerate(
            zip(PER_FORMAT, files, reference["tasks"])):
        assert expected["status"] == "succeeded", (path, expected["error"])
        # the Content-Type only says "an image": image/<anything> or octet-stream
        answer = raw(http, by_body, data, {"format": "png", "animated": "false"},
                     path="/api/v1/convert",
                     content_type=OCTET if number % 2 else f"image/{fmt}")
        converted, job_id = result_of_convert(http, by_body, answer)
        task = recorded(http, by_body, job_id)["tasks"][0]
        assert task["input"] == expected["input"], path  # format, size, bytes
        assert task["filename"].startswith("upload."), task["filename"]  # no name given
        want = http.get(expected["output"]["url"], headers=by_parts).data
        with Image.open(io.BytesIO(converted)) as got, Image.open(io.BytesIO(want)) as ref:
            assert got.format == ref.format == "PNG", path
            assert (got.mode, got.size) == (ref.mode, ref.size), path
            assert max_difference(got, ref) <= PIXEL_TOLERANCE, path


def test_the_body_is_stored_as_sent_named_and_hashed_as_a_part(app, storage_root):
    http = app.test_client()
    auth = sign_up(http, "alice")
    # over 64 KiB: read through LargeReads; padding after the JPEG's end
    body = jpeg_bytes() + os.urandom(900_000)
    answer = raw(http, auth, body, {"options": json.dumps({"format": "png"})},
                 content_type="image/jpeg",
                 headers={"Content-Disposition": 'attachment; filename="holiday/cat.jpg"'})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    doc = answer.get_json()
    assert answer.headers["Location"] == f"/api/v1/jobs/{doc['id']}"
    assert [(t["filename"], t["input"]["bytes"]) for t in doc["tasks"]] == [("cat.jpg", len(body))]
    with open(os.path.join(storage_root, "jobs", doc["id"], "input", "0"), "rb") as stored:
        assert stored.read() == body
    assert staged(storage_root) == []  # written straight to the job's input: no staging
    assert wait_final(http, auth, doc["id"])["status"] == "succeeded"

    # the same bytes and options as parts: the raw body's hash is the part's (reused)
    again = multipart(http, auth, [("cat.jpg", body)], {"format": "png"})
    assert again.status_code == 202 and again.get_json()["tasks"][0]["reused"] is True

    # ?filename= wins; no name at all: upload.<the sniffed format's extension>
    named = raw(http, auth, png_bytes(), {"format": "webp", "filename": "../x\x00y.png"},
                content_type=OCTET).get_json()
    nameless = raw(http, auth, png_bytes(), {"format": "webp", "callback_url":
                                             "https://example.com/hook"}).get_json()
    assert named["tasks"][0]["filename"] == "xy.png"
    assert nameless["tasks"][0]["filename"] == "upload.png"


PNG = png_bytes()
BIG = PNG + b"\0" * MAX_FILE
# (what is wrong, multipart request, raw request, status, code, details["field"] or None)
REFUSED = [
    ("not an image", dict(files=[("notes.txt", TEXT)], options={"format": "png"}),
     dict(body=TEXT, query={"format": "png"}), 415, "UNSUPPORTED_FORMAT", None),
    ("not an image's Content-Type", dict(files=[("notes.txt", TEXT)], options={"format": "png"}),
     dict(body=PNG, query={"format": "png"}, content_type="text/plain"),
     415, "UNSUPPORTED_FORMAT", None),
    ("a form's Content-Type", dict(files=[("notes.txt", TEXT)], options={"format": "png"}),
     dict(body=PNG, query={"format": "png"}, content_type="application/x-www-form-urlencoded"),
     415, "UNSUPPORTED_FORMAT", None),
    ("no file", dict(files=[], options={"format": "png"}),
     dict(body=b"", query={"format": "png"}), 400, "BAD_REQUEST", "file"),
    ("no file, no Content-Type", dict(files=[], options={"format": "png"}),
     dict(body=b"", query={"format": "png"}, content_type=None), 400, "BAD_REQUEST", "file"),
    ("too large", dict(files=[("big.png", BIG)], options={"format": "png"}),
     dict(body=BIG, query={"format": "png"}), 413, "FILE_TOO_LARGE", None),
    ("no options", dict(files=[("a.png", PNG)], options=None),
     dict(body=PNG, query={}), 422, "INVALID_OPTIONS", "options"),
    ("options not JSON", dict(files=[("a.png", PNG)], options="{"),
     dict(body=PNG, query={"options": "{"}), 422, "INVALID_OPTIONS", "options"),
    ("an unknown format", dict(files=[("a.png", PNG)], options={"format": "exe"}),
     dict(body=PNG, query={"format": "exe"}), 422, "INVALID_OPTIONS", "format"),
    ("a width out of range", dict(files=[("a.png", PNG)], options={"format": "png", "width": -3}),
     dict(body=PNG, query={"format": "png", "width": -3}), 422, "INVALID_OPTIONS", "width"),
    ("a width not a number", dict(files=[("a.png", PNG)],
                                  options={"format": "png", "width": "wide"}),
     dict(body=PNG, query={"format": "png", "width": "wide"}), 422, "INVALID_OPTIONS", "width"),
    ("an unknown option", dict(files=[("a.png", PNG)], options={"format": "png", "widht": 3}),
     dict(body=PNG, query={"format": "png", "widht": 3}), 422, "INVALID_OPTIONS", "widht"),
    ("a bad callback_url", dict(files=[("a.png", PNG)], options={"format": "png"},
                                callback_url="ftp://example.com/"),
     dict(body=PNG, query={"format": "png", "callback_url": "ftp://example.com/"}),
     422, "INVALID_OPTIONS", "callback_url"),
]


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/convert"])
def test_a_refused_raw_body_gets_the_same_error_as_multipart(app, storage_root, path):
    http = app.test_client()
    auth = sign_up(http, "refused")

    def outcome(answer):
        error = answer.get_json()["error"]
        return answer.status_code, error["code"], error["details"].get("field")

    for wrong, by_parts, by_body, status, code, field in REFUSED:
        parts = outcome(multipart(http, auth, path=path, **by_parts))
        body = outcome(raw(http, auth, path=path, **by_body))
        assert parts == body == (status, code, field), (wrong, parts, body)
    assert http.get("/api/v1/jobs", headers=auth).get_json()["items"] == []
    assert nothing_stored(storage_root)


def test_a_chunked_body_is_bounded_while_it_is_written(app, storage_root):
    """No Content-Length to refuse up front: the limit holds as the bytes land."""
    http = app.test_client()
    auth = sign_up(http, "chunks")
    answer = http.post("/api/v1/jobs?format=png", headers={
        **auth, "Content-Type": "image/png", "Transfer-Encoding": "chunked"},
        input_stream=io.BytesIO(BIG), environ_overrides={"wsgi.input_terminated": True})
    assert answer.status_code == 413 and answer.get_json()["error"]["code"] == "FILE_TOO_LARGE"
    assert nothing_stored(storage_root)

    answer = http.post("/api/v1/jobs?format=png", headers={
        **auth, "Content-Type": "image/png", "Transfer-Encoding": "chunked"},
        input_stream=io.BytesIO(PNG), environ_overrides={"wsgi.input_terminated": True})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert answer.get_json()["tasks"][0]["input"]["bytes"] == len(PNG)


# --- quota and the per-user /convert concurrency on the raw path ---------------------

QUOTA = 3000


@pytest.fixture
def limited(runner_factory, rabbit_config, sqlite_url, storage_root):
    app = make_app(runner_factory, rabbit_config, sqlite_url, storage_root,
                   jobs={"quota_bytes": QUOTA}, CONVERT_CONCURRENCY_PER_USER=1)
    yield app
    app.extensions["convertix.rpc"].close()


def test_the_quota_holds_for_a_raw_body(limited, storage_root):
    http = limited.test_client()
    auth = sign_up(http, "quota")
    big = png_bytes() + b"\0" * QUOTA  # trailing bytes: still a PNG, and over the quota
    assert len(big) > QUOTA
    for path in ("/api/v1/jobs", "/api/v1/convert"):
        by_body = raw(http, auth, big, {"format": "png"}, path=path)
        by_parts = multipart(http, auth, [("big.png", big)], {"format": "png"}, path=path)
        assert by_body.status_code == by_parts.status_code == 413, by_body.get_data(as_text=True)
        assert by_body.get_json()["error"]["code"] == "QUOTA_EXCEEDED"
        assert by_body.get_json()["error"]["details"] == by_parts.get_json()["error"]["details"] \
            == {"used_bytes": 0, "adding_bytes": len(big), "quota_bytes": QUOTA}
    assert http.get("/api/v1/jobs", headers=auth).get_json()["items"] == []
    assert nothing_stored(storage_root)


def test_the_convert_concurrency_holds_for_a_raw_body(limited):
    from gateway.slots import convert_slot

    http = limited.test_client()
    auth = sign_up(http, "slots")
    user_id = http.get("/api/v1/auth/me", headers=auth).get_json()["id"]
    image = png_bytes((30, 20))
    with limited.test_request_context(), convert_slot(user_id):  # one /convert in flight
        answer = raw(http, auth, image, {"format": "png"}, path="/api/v1/convert")
        assert answer.status_code == 429 and answer.get_json()["error"]["code"] == "RATE_LIMITED"
        assert raw(http, auth, image, {"format": "png"}).status_code == 202  # /jobs: not counted
    answer = raw(http, auth, image, {"format": "webp"}, path="/api/v1/convert")
    converted, _job = result_of_convert(http, auth, answer)  # the slot was given back
    with Image.open(io.BytesIO(converted)) as got:
        assert got.format == "WEBP" and got.size == (30, 20)
