"""POST /convert hands its task straight to a converter and is recorded after
answering (docs/DESIGN.md "/convert records after answering"): real
RabbitMQ, SQLite and PostgreSQL, the real converter; the jobs service as its
own process where a test kills it."""
import io
import random
import signal
import threading

import pytest
from kombu import Connection
from PIL import Image

from gateway import convert as gateway_convert
from gateway import create_app
from gateway.quota_view import MARGIN, SHARES, quota_view
from gateway.settings import settings_from
from infra.nameko.queues import convert_queue
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.helpers import jobs_processes, stop_process_groups, wait_until
from tests.integration.conftest import png_bytes
from tests.integration.test_gateway_raw_upload import multipart, sign_up, wait_final

QUOTA = 3000


def gateway(config, **settings):
    return create_app({**settings_from(config), "TESTING": True,
                       "JWT_SECRET_KEY": TEST_JWT_SECRET, **settings})


def listed(http, auth):
    return http.get("/api/v1/jobs", headers=auth).get_json()["items"]


def used_bytes(http, auth):
    return http.get("/api/v1/auth/me", headers=auth).get_json()["storage"]["used_bytes"]


def tasks_on_the_queue(config):
    with Connection(config["AMQP_URI"]) as conn:
        return convert_queue(config)(conn.default_channel).queue_declare(passive=True).message_count


# --- recorded after answering, even when the jobs service is killed meanwhile --------

@pytest.fixture
def jobs_env(rabbit_config, db_url, storage_root, tmp_path):
    return {"AMQP_URI": rabbit_config["AMQP_URI"], "DATABASE_URL": db_url,
            "STORAGE_ROOT": str(storage_root), "LOG_DIR": str(tmp_path / "log"),
            "METRICS_PORT": "0", "METRICS_TARGETS_DIR": str(tmp_path / "targets"),
            "PYTHONUNBUFFERED": "1"}


def test_a_convert_answered_is_recorded_after_a_kill_of_the_jobs_service(
        runner_factory, rabbit_config, rabbit_manager, db_url, storage_root, jobs_env, tmp_path):
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root)
    runner_factory(config, AccountsService, ConverterService).start()
    app = gateway(config, SYNC_CONVERT_TIMEOUT_S=60)
    http = app.test_client()
    auth = sign_up(http, "survivor")
    (tmp_path / "slow").mkdir(), (tmp_path / "again").mkdir()
    try:
        # the jobs process records a /convert's job only after SLOW_RECORD_S
        with jobs_processes("tests.slow_record_jobs:JobsService",
                            {**jobs_env, "SLOW_RECORD_S": "300"}, rabbit_config,
                            rabbit_manager, str(tmp_path / "slow"), count=1) as procs:
            answer = multipart(http, auth, [("a.png", png_bytes((60, 40)))],
                               {"format": "webp", "width": 30}, path="/api/v1/convert")
            assert answer.status_code == 200, answer.get_data(as_text=True)
            job_id = answer.headers["X-Convertix-Job"]
            assert listed(http, auth) == []  # answered before recorded
            stop_process_groups(procs, sig=signal.SIGKILL)  # with the record unacknowledged
        with jobs_processes("services.jobs.service:JobsService", jobs_env, rabbit_config,
                            rabbit_manager, str(tmp_path / "again"), count=1):
            (doc,) = wait_until(lambda: listed(http, auth), timeout=60,
                                message="the job in the history")
            assert doc["id"] == job_id and doc["status"] == "succeeded"
            (task,) = doc["tasks"]
            assert task["filename"] == "a.png" and task["output"]["format"] == "webp"
            assert task["output"]["bytes"] == len(answer.data)
            result = http.get(task["output"]["url"], headers=auth)
            assert result.status_code == 200 and result.data == answer.data
            assert used_bytes(http, auth) == len(answer.data)  # the quota counts it
    finally:
        app.extensions["convertix.rpc"].close()


# --- a converter lost between its answer and the task's final event ---------------------

class LostAfterAnswering(ConverterService):
    """The real converter, lost once just after answering a /convert: its
    final event not sent, its task not acked (requeued, as a killed
    converter's is when its connection goes)."""
    lost = []

    def _finish(self, event, message, payload):
        if message.get("record") and not self.lost:
            self.lost.append(message["job_id"])
            self.reply(message, payload)
            raise RuntimeError("converter lost between its answer and its event")
        super()._finish(event, message, payload)


def test_a_converter_lost_after_answering_leaves_the_task_to_convert_and_record_again(
        runner_factory, rabbit_config, db_url, storage_root):
    LostAfterAnswering.lost.clear()  # once per test (it is run on each database)
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root)
    runner_factory(config, AccountsService, JobsService, LostAfterAnswering).start()
    app = gateway(config, SYNC_CONVERT_TIMEOUT_S=60)
    try:
        http = app.test_client()
        auth = sign_up(http, "resilient")
        answer = multipart(http, auth, [("a.png", png_bytes((60, 40)))],
                           {"format": "webp", "width": 30}, path="/api/v1/convert")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        job_id = answer.headers["X-Convertix-Job"]
        assert LostAfterAnswering.lost == [job_id]
        (doc,) = wait_until(lambda: listed(http, auth), timeout=60,
                            message="the job in the history")
        (task,) = doc["tasks"]
        assert doc["id"] == job_id and doc["status"] == "succeeded"
        assert task["attempts"] == 2  # converted again: the first attempt's event never went
        result = http.get(task["output"]["url"], headers=auth)
        assert result.status_code == 200 and result.data == answer.data
        assert used_bytes(http, auth) == len(answer.data)  # counted once
    finally:
        app.extensions["convertix.rpc"].close()


# --- without a converter: the wait runs out -------------------------------------------

@pytest.fixture
def no_converter(runner_factory, rabbit_config, db_url, storage_root):
    """The gateway and every service but the converter (started by a test)."""
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root,
                                 JOBS={"quota_bytes": QUOTA})
    runner_factory(config, AccountsService, JobsService).start()
    app = gateway(config, SYNC_CONVERT_TIMEOUT_S=0.5, CONVERT_CONCURRENCY_PER_USER=1)
    yield app, config
    app.extensions["convertix.rpc"].close()


def test_a_convert_that_outlives_the_wait_answers_202_with_a_job_to_follow(
        no_converter, container_factory):
    app, config = no_converter
    http = app.test_client()
    auth = sign_up(http, "patient")
    answer = multipart(http, auth, [("a.png", png_bytes((60, 40)))],
                       {"format": "webp", "width": 30}, path="/api/v1/convert")
    assert answer.status_code == 202, answer.get_data(as_text=True)
    doc = answer.get_json()
    assert answer.headers["Location"] == f"/api/v1/jobs/{doc['id']}"
    assert doc["status"] == "queued" and doc["tasks"][0]["status"] == "queued"
    assert http.get(f"/api/v1/jobs/{doc['id']}", headers=auth).get_json()["id"] == doc["id"]
    assert [job["id"] for job in listed(http, auth)] == [doc["id"]]
    assert tasks_on_the_queue(config) == 1  # recorded, not queued a second time

    # the same document as POST /jobs answers (another user's, to leave the queue as it is)
    other = multipart(http, sign_up(http, "other"), [("b.png", png_bytes())], {"format": "png"})
    assert set(doc) == set(other.get_json())
    assert set(doc["tasks"][0]) == set(other.get_json()["tasks"][0])

    container_factory(ConverterService, config).start()
    done = wait_final(http, auth, doc["id"], timeout=60)
    (task,) = done["tasks"]
    assert done["status"] == "succeeded" and task["attempts"] == 1
    with Image.open(io.BytesIO(http.get(task["output"]["url"], headers=auth).data)) as image:
        assert image.format == "WEBP" and image.size == (30, 20)
    assert used_bytes(http, auth) == task["output"]["bytes"]


def test_the_convert_concurrency_holds_while_a_convert_waits(no_converter):
    app, config = no_converter
    app.config["SYNC_CONVERT_TIMEOUT_S"] = 10  # the first holds its slot this long
    http = app.test_client()
    auth = sign_up(http, "busy")
    held = {}

    def first():
        held["answer"] = multipart(app.test_client(), auth, [("a.png", png_bytes())],
                                   {"format": "png"}, path="/api/v1/convert")
    thread = threading.Thread(target=first)
    thread.start()
    try:
        wait_until(lambda: tasks_on_the_queue(config) == 1, timeout=30,
                   message="the first /convert handed over")
        second = multipart(http, auth, [("b.png", png_bytes())], {"format": "png"},
                           path="/api/v1/convert")
        assert second.status_code == 429 and second.get_json()["error"]["code"] == "RATE_LIMITED"
        assert tasks_on_the_queue(config) == 1  # refused before anything was handed over
    finally:
        thread.join(60)
    assert held["answer"].status_code == 202


def test_the_quota_counts_a_convert_and_refuses_the_next_past_it(no_converter, container_factory):
    app, config = no_converter
    app.config["SYNC_CONVERT_TIMEOUT_S"] = 60
    container_factory(ConverterService, config).start()
    http = app.test_client()
    auth = sign_up(http, "thrifty")
    answer = multipart(http, auth, [("a.png", png_bytes((40, 40)))], {"format": "bmp"},
                       path="/api/v1/convert")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    output = len(answer.data)
    wait_until(lambda: used_bytes(http, auth) == output, timeout=10,
               message="the result counted")  # within moments of the answer

    big = png_bytes((400, 400), colour=(1, 2, 3))
    assert output + len(big) > QUOTA
    refused = multipart(http, auth, [("big.png", big)], {"format": "png"}, path="/api/v1/convert")
    assert refused.status_code == 413 and refused.get_json()["error"] == {
        "code": "QUOTA_EXCEEDED", "message": refused.get_json()["error"]["message"],
        "details": {"used_bytes": output, "adding_bytes": len(big), "quota_bytes": QUOTA}}
    assert [job["id"] for job in listed(http, auth)] == [answer.headers["X-Convertix-Job"]]
    assert tasks_on_the_queue(config) == 0


def noise_png(size):
    """A PNG that does not compress to nearly nothing, as one colour does."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, random.Random(7).randbytes(size[0] * size[1] * 3)).save(
        buffer, "PNG")
    return buffer.getvalue()


VIEWED_QUOTA = 100_000  # its margin 10,000 bytes; one gateway process's share of it 1,250


def test_far_below_the_quota_a_convert_asks_no_service_and_near_it_the_service_rules(
        runner_factory, rabbit_config, db_url, storage_root, monkeypatch):
    """With result reuse off, the gateway's view of the user's bytes admits a
    /convert far below the quota, up to this process's share
    (gateway/quota_view.py); past its share, or near the quota, the jobs
    service is asked again, and refuses what would pass the quota."""
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root,
                                 JOBS={"quota_bytes": VIEWED_QUOTA})
    runner_factory(config, AccountsService, JobsService, ConverterService).start()
    app = gateway(config, SYNC_CONVERT_TIMEOUT_S=60, REUSE_RESULTS=False)
    quota_view(app).max_age_s = 600  # this test's steps, however slow the machine
    asked, real_rpc = [], gateway_convert._rpc

    def spy(method, *args, **kwargs):  # the real call, its name noted (a wait may read the job)
        asked.append(method)
        return real_rpc(method, *args, **kwargs)
    monkeypatch.setattr(gateway_convert, "_rpc", spy)
    http = app.test_client()
    auth = sign_up(http, "viewed")
    stored = []

    def convert(image, expected=200):
        del asked[:]
        answer = multipart(http, auth, [("a.png", image)], {"format": "bmp"},
                           path="/api/v1/convert")
        assert answer.status_code == expected, answer.get_data(as_text=True)
        if expected == 200:
            stored.append(len(answer.data))
        return answer, [method for method in asked if method == "admit_convert"]

    try:
        small, wide = png_bytes((8, 8)), png_bytes((30, 20))
        assert convert(small)[1] == ["admit_convert"]  # nothing known yet
        assert convert(wide)[1] == []                  # far below, within its share: no one asked
        assert len(small) + stored[0] + len(wide) <= VIEWED_QUOTA * MARGIN / SHARES
        assert len(small) + sum(stored) + len(small) > VIEWED_QUOTA * MARGIN / SHARES
        assert convert(small)[1] == ["admit_convert"]  # its share used: asked again
        large = png_bytes((172, 172))  # a small PNG, a large BMP (89 kB)
        assert convert(large)[1] == []
        wait_until(lambda: used_bytes(http, auth) == sum(stored), timeout=10,
                   message="every result counted")
        assert sum(stored) > VIEWED_QUOTA * (1 - MARGIN)

        big = noise_png((60, 60))
        refused, calls = convert(big, expected=413)  # near the quota: asked, and refused
        assert calls == ["admit_convert"] and refused.get_json()["error"]["details"] == {
            "used_bytes": sum(stored), "adding_bytes": len(big), "quota_bytes": VIEWED_QUOTA}
        medium = noise_png((14, 14))
        assert sum(stored) + len(medium) <= VIEWED_QUOTA
        assert convert(medium)[1] == ["admit_convert"]  # within the quota, near it: asked
        wait_until(lambda: len(listed(http, auth)) == 5, timeout=10, message="all five recorded")
    finally:
        app.extensions["convertix.rpc"].close()
