"""Uploads written straight into the storage folder (gateway/storage.py):
the job's inputs are the bytes sent, nothing stays in the staging folder
whether the upload is taken or refused, and a large body read through
LargeReads arrives whole. Real services behind the gateway."""
import io
import json
import os

import pytest

from gateway import create_app
from gateway.settings import settings_from
from gateway.storage import INCOMING
from services.accounts.service import AccountsService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.integration.conftest import jpeg_bytes, png_bytes

MAX_FILE = 3_000_000


@pytest.fixture
def app(runner_factory, rabbit_config, sqlite_url, storage_root):
    service_config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root)
    runner = runner_factory(service_config, AccountsService, JobsService)
    runner.start()
    settings = settings_from({**service_config, "LIMITS": {
        "max_file_bytes": MAX_FILE, "max_files": 5, "max_request_bytes": 20_000_000}})
    app = create_app({**settings, "TESTING": True, "JWT_SECRET_KEY": TEST_JWT_SECRET})
    yield app
    app.extensions["convertix.rpc"].close()


@pytest.fixture
def client(app):
    http = app.test_client()
    http.post("/api/v1/auth/register", json={"username": "uploader", "password": "pass word 1"})
    token = http.post("/api/v1/auth/login", json={"username": "uploader",
                      "password": "pass word 1"}).get_json()["access_token"]
    return http, {"Authorization": f"Bearer {token}"}


def post(client, files):
    http, headers = client
    return http.post("/api/v1/jobs", headers=headers, content_type="multipart/form-data",
                     data={"options": json.dumps({"format": "png"}),
                           "file": [(io.BytesIO(data), name) for name, data in files]})


def staged(storage_root):
    folder = os.path.join(storage_root, INCOMING)
    return os.listdir(folder) if os.path.isdir(folder) else []


def test_inputs_are_the_bytes_sent_and_nothing_stays_staged(client, storage_root):
    # a multi-read body: through LargeReads; padding after the JPEG's end
    big = jpeg_bytes() + os.urandom(2_500_000)
    files = [("a.jpg", big), ("b.png", png_bytes()), ("c.jpg", jpeg_bytes() + b"\1" * 1_200_000)]
    answer = post(client, files)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    job_id = answer.get_json()["id"]
    for index, (_, data) in enumerate(files):
        with open(os.path.join(storage_root, "jobs", job_id, "input", str(index)), "rb") as f:
            assert f.read() == data
    assert [t["input"]["bytes"] for t in answer.get_json()["tasks"]] == [len(d) for _, d in files]
    assert staged(storage_root) == []


@pytest.mark.parametrize("files, status, code", [
    ([("a.jpg", jpeg_bytes()), ("notes.txt", b"not an image at all")], 415,
     "UNSUPPORTED_FORMAT"),
    ([("a.jpg", jpeg_bytes()), ("big.jpg", jpeg_bytes() + b"\0" * MAX_FILE)], 413,
     "FILE_TOO_LARGE"),
])
def test_a_refused_upload_leaves_nothing_behind(client, storage_root, files, status, code):
    answer = post(client, files)
    assert answer.status_code == status and answer.get_json()["error"]["code"] == code
    assert staged(storage_root) == []
    assert not os.path.isdir(os.path.join(storage_root, "jobs")) or \
        os.listdir(os.path.join(storage_root, "jobs")) == []
