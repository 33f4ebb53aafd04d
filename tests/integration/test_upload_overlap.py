"""Uploads overlap conversion (gateway/overlap.py): a job's first tasks
convert while the rest of its multipart body is still arriving, and an
upload refused part-way leaves no task, no file and no job behind.

The body is handed to the gateway piece by piece (SlowBody): before a given
piece it waits, with a deadline, for something the services must have done
meanwhile (a task's result in storage), so the overlap is proven, not timed.
Real RabbitMQ, jobs service and converter; the gateway in this process."""
import json
import os

import pytest
from kombu import Connection
from nameko.standalone.rpc import ClusterRpcProxy

from convertix.contract import CONVERT_QUEUE
from convertix.errors import NotFound
from gateway import create_app
from gateway.settings import settings_from
from gateway.storage import INCOMING
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.helpers import wait_until
from tests.integration.conftest import png_bytes

MAX_FILE = 8_000   # the whole body stays under LargeReads' threshold: read as sent
BOUNDARY = "overlap-test-boundary"
FILES = 12
REFUSED = 9        # the 10th file


@pytest.fixture
def stack(runner_factory, container_factory, rabbit_config, sqlite_url, storage_root):
    config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root,
                                 LIMITS={"max_file_bytes": MAX_FILE, "max_files": 20},
                                 JOBS={"reuse_results": False})
    runner_factory(config, AccountsService, JobsService).start()
    converter = container_factory(ConverterService, config)
    converter.start()
    app = create_app({**settings_from(config), "TESTING": True,
                      "JWT_SECRET_KEY": TEST_JWT_SECRET})
    http = app.test_client()
    http.post("/api/v1/auth/register", json={"username": "overlap", "password": "pass word 1"})
    token = http.post("/api/v1/auth/login", json={"username": "overlap",
                      "password": "pass word 1"}).get_json()["access_token"]
    yield http, {"Authorization": f"Bearer {token}"}, config, converter
    app.extensions["convertix.rpc"].close()


class SlowBody:
    """wsgi.input that hands over `pieces` one at a time; before piece k it
    runs waits[k]() (a wait_until: the client pauses until that holds)."""

    def __init__(self, pieces, waits, cut_after=None):
        self.pieces, self.waits, self.next, self.left = list(pieces), waits, 0, b""
        self.total, self.position = sum(len(p) for p in self.pieces), 0
        if cut_after is not None:  # the client goes away: what it said it would send, not sent
            self.pieces = self.pieces[:cut_after]

    def tell(self):  # werkzeug's test client measures the body (seek to the end and back)
        return self.position

    def seek(self, offset, whence=0):
        self.position = self.total if whence == 2 else offset
        return self.position

    def read(self, size=-1):
        if not self.left:
            if self.next in self.waits:
                self.waits.pop(self.next)()
            if self.next == len(self.pieces):
                return b""
            self.left, self.next = self.pieces[self.next], self.next + 1
        size = len(self.left) if size is None or size < 0 else size
        data, self.left = self.left[:size], self.left[size:]
        self.position += len(data)
        return data


def pieces(files, options):
    """The multipart body in pieces: the options, then one per file. Each
    piece ends with the next delimiter, so that the part before it has
    ended (for the gateway's parser) as soon as the piece is read."""
    delimiter = f"\r\n--{BOUNDARY}".encode()
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="options"\r\n\r\n'
    out = [head.encode() + json.dumps(options).encode() + delimiter]
    for name, data in files:
        out.append(f'\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                   f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + delimiter)
    out[-1] += b"--\r\n"
    return out


def post(http, headers, body_pieces, waits, cut_after=None):
    return http.post("/api/v1/jobs", headers=headers,
                     input_stream=SlowBody(body_pieces, waits, cut_after),
                     content_type=f"multipart/form-data; boundary={BOUNDARY}")


def jobs_folders(storage_root):
    folder = os.path.join(storage_root, "jobs")
    return os.listdir(folder) if os.path.isdir(folder) else []


def first_result(storage_root):
    """Wait for one job folder with task 0's result in it: the job's id."""
    def converted():
        for job_id in jobs_folders(storage_root):
            if os.path.exists(os.path.join(storage_root, "jobs", job_id, "output", "0.png")):
                return job_id
        return None
    return wait_until(converted, timeout=60, message="task 0 converted while uploading")


def images(count):
    # each its own colour: no two alike
    return [(f"{i}.png", png_bytes((48, 32), (i * 20 % 256, 90, 160))) for i in range(count)]


def queued_messages(config):
    with Connection(config["AMQP_URI"]) as conn:
        return conn.default_channel.queue_declare(CONVERT_QUEUE, passive=True).message_count


def test_the_first_task_converts_before_the_upload_ends(stack, storage_root):
    http, headers, _config, _converter = stack
    seen = {}
    # before the last file is sent, task 0 has been converted
    waits = {FILES: lambda: seen.setdefault("job", first_result(storage_root))}
    answer = post(http, headers, pieces(images(FILES), {"format": "png", "width": 24}), waits)

    assert answer.status_code == 202, answer.get_data(as_text=True)
    doc = answer.get_json()
    assert doc["id"] == seen["job"] and answer.headers["Location"] == f"/api/v1/jobs/{doc['id']}"
    assert [t["index"] for t in doc["tasks"]] == list(range(FILES))
    assert [t["filename"] for t in doc["tasks"]] == [f"{i}.png" for i in range(FILES)]

    def final():
        current = http.get(f"/api/v1/jobs/{doc['id']}", headers=headers).get_json()
        return current if current["status"] in ("succeeded", "failed", "partial") else None
    done = wait_until(final, timeout=90, message="the job to end")
    assert done["status"] == "succeeded"
    assert all(t["output"]["width"] == 24 for t in done["tasks"])
    listed = http.get("/api/v1/jobs", headers=headers).get_json()["items"]
    assert [job["id"] for job in listed] == [doc["id"]]


@pytest.mark.parametrize("refused, status, code", [
    (b"this is no image at all", 415, "UNSUPPORTED_FORMAT"),
    (png_bytes((48, 32)) + b"\0" * MAX_FILE, 413, "FILE_TOO_LARGE"),
    (None, 400, "BAD_REQUEST"),  # the client goes away instead of sending it
])
def test_a_job_whose_10th_file_is_refused_leaves_nothing(stack, storage_root, refused, status,
                                                         code):
    http, headers, config, converter = stack
    files = images(FILES)
    files[REFUSED] = ("refused.png", refused or b"")
    seen = {}
    # the 10th file is sent only once the first tasks have results
    waits = {REFUSED + 1: lambda: seen.setdefault("job", first_result(storage_root))}

    answer = post(http, headers, pieces(files, {"format": "png", "width": 24}), waits,
                  cut_after=REFUSED + 1 if refused is None else None)

    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code
    job_id = seen["job"]
    # whatever was queued is consumed (failed at once: its input is gone),
    # every result made meanwhile dropped, no file of the job stays
    wait_until(lambda: not jobs_folders(storage_root) and queued_messages(config) == 0,
               timeout=60, message="the abandoned job's files and messages to go")
    converter.stop()  # what was still converting has ended: nothing can write now
    wait_until(lambda: not jobs_folders(storage_root), timeout=30,
               message="a result that landed after the abandon to be dropped")
    assert queued_messages(config) == 0
    staged = os.path.join(storage_root, INCOMING)
    assert not os.path.isdir(staged) or os.listdir(staged) == []

    assert http.get("/api/v1/jobs", headers=headers).get_json()["items"] == []
    assert http.get(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 404
    with ClusterRpcProxy(config, timeout=30) as rpc:
        counts = rpc.jobs.stats()
        assert not counts["jobs"] and not counts["tasks"]  # no job, no task, in no status
        me = http.get("/api/v1/auth/me", headers=headers).get_json()
        assert me["storage"]["used_bytes"] == 0
        with pytest.raises(NotFound):
            rpc.jobs.get_job(job_id, me["id"])
