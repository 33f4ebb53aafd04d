"""A job's context travels with it: gateway → RPC → jobs → conversion queue →
converter → events → jobs, on real RabbitMQ, and every line on the way
carries its trace id, job id, user id (and task index where there is one)."""
import io
import json
import logging

import pytest
from PIL import Image

from convertix.contract import JOB_FINAL as FINAL
from gateway import create_app
from gateway.settings import settings_from
from infra.logs.ecs import get_field
from infra.logs.search import LogQuery, search
from infra.logs.setup import ConvertixHandler, LogSettings
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.helpers import wait_until


@pytest.fixture
def log_dir(tmp_path):
    """Every line of this process (gateway and services alike) into a local store."""
    directory = tmp_path / "log"
    handler = ConvertixHandler(LogSettings.from_section({"dir": str(directory)}), name="gateway")
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield directory
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


@pytest.fixture
def http(runner_factory, rabbit_config, sqlite_url, storage_root, log_dir):
    config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root)
    runner_factory(config, AccountsService, JobsService, ConverterService).start()
    app = create_app({**settings_from(config), "TESTING": True,
                      "JWT_SECRET_KEY": TEST_JWT_SECRET, "LOGS": {"dir": str(log_dir)}})
    yield app.test_client()
    app.extensions["convertix.rpc"].close()


def png(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, "PNG")
    return buffer.getvalue()


def login(http, username):
    http.post("/api/v1/auth/register", json={"username": username, "password": "password-1"})
    answer = http.post("/api/v1/auth/login", json={"username": username, "password": "password-1"})
    return {"Authorization": "Bearer " + answer.get_json()["access_token"]}


def submit(http, headers, trace_id, files=2):
    answer = http.post("/api/v1/jobs", headers={
        **headers, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}, data={
        "options": json.dumps({"format": "jpeg"}),
        "file": [(io.BytesIO(png((n * 60, 10, 10))), f"{n}.png") for n in range(files)]})
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert answer.headers["X-Request-ID"] == trace_id
    return answer.get_json()["id"]


def wait_final(http, headers, job_id):
    return wait_until(lambda: (lambda doc: doc if doc["status"] in FINAL else None)(
        http.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()),
        timeout=60, message=f"job {job_id}")


def test_every_line_of_a_job_carries_its_trace_job_user_and_task(http, log_dir):
    alice = login(http, "alice")
    bob = login(http, "bob")
    traces = {"alice": "a1" * 16, "bob": "b2" * 16}
    jobs = {"alice": submit(http, alice, traces["alice"]), "bob": submit(http, bob, traces["bob"])}
    for who, headers in (("alice", alice), ("bob", bob)):
        assert wait_final(http, headers, jobs[who])["status"] == "succeeded"
    user_ids = {who: http.get("/api/v1/auth/me", headers=h).get_json()["id"]
                for who, h in (("alice", alice), ("bob", bob))}
    settings = LogSettings.from_section({"dir": str(log_dir)})

    def lines_of(job_id):
        return search(settings, LogQuery.from_args({"job_id": job_id, "limit": "1000"}))["items"]

    # The jobs service logs the last task's success after the job is final: wait for it.
    for who in ("alice", "bob"):
        wait_until(lambda: sum("succeeded" in d["message"] and
                               get_field(d, "service.name") == "jobs"
                               for d in lines_of(jobs[who])) == 2,
                   timeout=15, message="the jobs service's lines")
    for who, job_id in jobs.items():
        lines = lines_of(job_id)
        services = {get_field(d, "service.name") for d in lines}
        assert {"gateway", "jobs", "converter"} <= services, services
        other = "bob" if who == "alice" else "alice"
        for doc in lines:  # never the other's: greenlets and threads keep their own context
            assert get_field(doc, "user.id") == user_ids[who], doc
            assert get_field(doc, "trace.id") != traces[other], doc
            if get_field(doc, "service.name") != "gateway":  # all caused by the upload
                assert get_field(doc, "trace.id") == traces[who], doc
        # The gateway's polls are requests of their own, each with its own trace id.
        assert len({get_field(d, "trace.id") for d in lines}) > 1
        converter = [d for d in lines if get_field(d, "service.name") == "converter"]
        assert {get_field(d, "convertix.task_index") for d in converter} == {0, 1}
        for doc in converter:
            assert str(get_field(doc, "convertix.task_index")) in doc["message"]
        messages = [d["message"] for d in lines]
        assert any(m.startswith(f"job {job_id} accepted") for m in messages)
        assert any(m.startswith(f"job {job_id} queued") for m in messages)
        assert any(m.startswith("POST /api/v1/jobs 202") for m in messages)
    # Lines outside any request or worker carry no job.
    for doc in search(settings, LogQuery.from_args({"q": "GET /api/v1/auth/me"}))["items"]:
        assert get_field(doc, "convertix.job_id") is None
