"""A multipart upload read part by part (gateway/overlap.py): when the job
is made and grown, and that a refusal met part-way is the very error the
one-pass upload gave (checked against a reference of it: options, then
callback_url, then the count, then each file, then the quota). The jobs
service is a fake that keeps the quota; storage is a real folder."""
import io
import json
import os

import pytest
from werkzeug.datastructures import FileStorage

from convertix.errors import ConvertixError, QuotaExceeded
from convertix.storage import Storage
from gateway.multipart import Part
from gateway.overlap import GROUP_MAX, StreamedUpload, first_refusal, flush_now
from gateway.uploads import check_count, parse_callback_url, parse_options, store_upload
from tests.integration.conftest import png_bytes

JOB, USER = "0123456789abcdef0123456789abcdef", "u" * 32
CAPS = {"input": ["png", "jpeg"], "output": ["png", "webp"]}
LIMITS = {"max_files": 4, "max_file_bytes": 5000}
GOOD, BAD = png_bytes((8, 8)), b"no image here"
OPTIONS = json.dumps({"format": "webp"})


@pytest.mark.parametrize("pending, added, waited, expected", [
    (0, 0, 0, False),
    (1, 0, 0, True),             # the first file makes the job at once
    (1, 1, 0, True),             # then groups as large as the job: 1, 2, 4, 8 ...
    (1, 2, 0, False),
    (2, 2, 0, True),
    (7, 8, 0, False),
    (8, 8, 0, True),
    (GROUP_MAX - 1, 100, 0, False),
    (GROUP_MAX, 100, 0, True),   # at most GROUP_MAX at a time
    (1, 100, 0.3, True),         # a slow client's file does not wait for its group
])
def test_when_files_go_to_the_job(pending, added, waited, expected):
    assert flush_now(pending, added, waited) is expected


def test_the_first_refusal_by_rank():
    refusals = {"file": "f", "service": "s", "callback_url": "c"}
    assert first_refusal(refusals) == "c" and first_refusal({}) is None


class FakeJobs:
    """The jobs service's open-job RPCs, with a quota on the bytes added."""

    def __init__(self, quota=10**9):
        self.calls, self.added, self.quota = [], 0, quota

    def __call__(self, method, *args, **kwargs):
        self.calls.append(method)
        files = {"create_job": lambda: args[3], "add_tasks": lambda: args[2],
                 "seal_job": lambda: args[2]}.get(method, list)()
        adding = sum(f["bytes"] for f in files)
        if self.added + adding > self.quota:  # as nameko hands it over: numbers as text
            raise QuotaExceeded("storage quota exceeded", details={
                "used_bytes": str(self.added), "adding_bytes": str(adding),
                "quota_bytes": str(self.quota)})
        self.added += adding
        return {"id": JOB, "tasks": [], "options": {}}


def field(name, value):
    return Part("field", name, value)


def file(data, name="a.png"):
    return Part("file", "file", FileStorage(io.BytesIO(data), filename=name, name="file"))


def streamed(parts, tmp_path, quota=10**9):
    """(the error code or 202, the RPCs made, whether the job's folder is left)."""
    store, jobs = Storage(tmp_path / "streamed"), FakeJobs(quota)
    upload = StreamedUpload(JOB, USER, jobs, store, CAPS, LIMITS, hashed=False, timeout_s=30)
    try:
        for part in parts:
            upload.take(part)
        upload.finish()
        outcome = 202
    except ConvertixError as exc:
        upload.abandon()
        outcome = exc.code
    return outcome, jobs.calls, os.path.exists(store.job_dir(JOB))


def one_pass(parts, tmp_path, quota=10**9):
    """What the upload answered when the whole form was parsed first (the reference)."""
    fields, files = {}, []
    for part in parts:
        if part.kind == "field":
            fields.setdefault(part.name, part.value)
        elif part.name == "file":
            files.append(part.value)
    store = Storage(tmp_path / "one-pass")
    try:
        parse_options(fields.get("options"), CAPS["output"])
        parse_callback_url(fields.get("callback_url"))
        check_count(files, LIMITS["max_files"])
        sizes = [store_upload(f, store.input_path(JOB, i), store, CAPS["input"],
                              LIMITS["max_file_bytes"], hashed=False)[1]
                 for i, f in enumerate(files)]
        if sum(sizes) > quota:
            return "QUOTA_EXCEEDED"
    except ConvertixError as exc:
        return exc.code
    return 202


def fresh(parts):
    """The parts again, their streams at the start (each run reads them)."""
    return [file(p.value.stream.getvalue(), p.value.filename) if p.kind == "file" else p
            for p in parts]


CASES = [  # (parts, quota, expected, RPCs made)
    ([field("options", OPTIONS), file(GOOD), file(GOOD), file(GOOD)], 10**9, 202,
     ["create_job", "add_tasks", "seal_job"]),
    # options after the files: the job is made when they come
    ([file(GOOD), file(GOOD), field("options", OPTIONS)], 10**9, 202,
     ["create_job", "seal_job"]),
    ([field("options", OPTIONS), file(GOOD), file(BAD), file(GOOD)], 10**9,
     "UNSUPPORTED_FORMAT", ["create_job", "abandon_job"]),
    # a bad file, then bad options: the options' error, as before
    ([file(GOOD), file(BAD), field("options", "{")], 10**9, "INVALID_OPTIONS", []),
    # a bad file, then a bad callback_url after the job was made
    ([field("options", OPTIONS), file(GOOD), file(BAD), field("callback_url", "ftp://x")],
     10**9, "INVALID_OPTIONS", ["create_job", "abandon_job"]),
    # too many files outranks a bad file met before them
    ([field("options", OPTIONS), file(GOOD), file(BAD)] + [file(GOOD)] * 3, 10**9,
     "BAD_REQUEST", ["create_job", "abandon_job"]),
    # past the quota at the second addition: abandoned, 413
    ([field("options", OPTIONS)] + [file(GOOD)] * 4, len(GOOD) * 2 + 1, "QUOTA_EXCEEDED",
     ["create_job", "add_tasks", "add_tasks", "abandon_job"]),
    # past the quota, then a bad file: the file's error, as before
    ([field("options", OPTIONS)] + [file(GOOD)] * 2 + [file(BAD)], len(GOOD) + 1,
     "UNSUPPORTED_FORMAT", ["create_job", "add_tasks", "abandon_job"]),
    ([file(GOOD)], 10**9, "INVALID_OPTIONS", []),               # no options
    ([field("options", OPTIONS)], 10**9, "BAD_REQUEST", []),    # no file
    ([field("options", OPTIONS), field("options", "{"), file(GOOD)], 10**9, 202,
     ["create_job", "seal_job"]),                               # the first options count
    ([field("options", OPTIONS), file(GOOD + b"\0" * LIMITS["max_file_bytes"])], 10**9,
     "FILE_TOO_LARGE", []),
]


@pytest.mark.parametrize("parts, quota, expected, calls", CASES)
def test_streamed_answers_as_the_one_pass_upload(parts, quota, expected, calls, tmp_path):
    assert one_pass(fresh(parts), tmp_path, quota) == expected
    outcome, made, left = streamed(fresh(parts), tmp_path, quota)
    assert outcome == expected and made == calls
    assert left == (expected == 202)  # a refused upload leaves no file


def test_a_quota_refusal_carries_numbers(tmp_path):
    store, jobs = Storage(tmp_path), FakeJobs(quota=1)
    upload = StreamedUpload(JOB, USER, jobs, store, CAPS, LIMITS, hashed=False, timeout_s=30)
    upload.take(field("options", OPTIONS))
    upload.take(file(GOOD))
    with pytest.raises(QuotaExceeded) as refused:
        upload.finish()
    assert refused.value.details == {"used_bytes": 0, "adding_bytes": len(GOOD),
                                     "quota_bytes": 1}
