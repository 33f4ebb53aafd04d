"""Webhooks through the whole chain: the HTTP API (Flask's test client), the
jobs service's job_changed event, the notifier, a real receiver on loopback;
real RabbitMQ, SQLite and PostgreSQL. And `GET/POST /jobs/<id>/deliveries`."""
import io
import json

import pytest

from convertix import signature
from convertix.contract import JOB_FINAL
from gateway import create_app
from gateway.settings import settings_from
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from services.notifier.service import NotifierService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.helpers import wait_until
from tests.integration.conftest import png_bytes
from tests.integration.test_gateway_api import assert_error, bearer, register_and_login
from tests.webhook_receiver import Receiver


@pytest.fixture
def http(runner_factory, rabbit_config, db_url, storage_root):
    config = make_service_config(
        rabbit_config["AMQP_URI"], db_url, storage_root,
        DB_URIS={"accounts:Base": db_url, "jobs:Base": db_url, "notifier:Base": db_url},
        NOTIFIER={"base_delay_s": 0.3, "factor": 2}, WEBHOOK_ALLOW_PRIVATE=True)
    runner_factory(config, AccountsService, JobsService, ConverterService, NotifierService).start()
    app = create_app({**settings_from(config), "TESTING": True, "JWT_SECRET_KEY": TEST_JWT_SECRET})
    yield app.test_client()
    app.extensions["convertix.rpc"].close()


def submit(http, token, callback_url=None):
    data = {"options": json.dumps({"format": "webp"}), "file": [(io.BytesIO(png_bytes()), "a.png")]}
    if callback_url is not None:
        data["callback_url"] = callback_url
    return http.post("/api/v1/jobs", data=data, headers=bearer(token),
                     content_type="multipart/form-data")


def deliveries(http, token, job_id):
    return http.get(f"/api/v1/jobs/{job_id}/deliveries", headers=bearer(token))


def wait_delivery(http, token, job_id, status, attempts=1):
    def done():
        doc = deliveries(http, token, job_id).get_json()
        return doc if doc["status"] == status and len(doc["attempts"]) >= attempts else None
    return wait_until(done, timeout=60, message=f"delivery {status}")


def test_a_final_job_posts_one_signed_document_and_logs_it(http):
    token = register_and_login(http, "alice")["access_token"]
    secret = http.get("/api/v1/auth/me", headers=bearer(token)).get_json()["webhook_secret"]
    with Receiver([500]) as receiver:
        answer = submit(http, token, receiver.url())
        assert answer.status_code == 202, answer.get_data(as_text=True)
        job_id = answer.get_json()["id"]
        doc = wait_delivery(http, token, job_id, "delivered", attempts=2)
        assert [(a["attempt"], a["http_status"], a["outcome"]) for a in doc["attempts"]] == [
            (1, 500, "retry"), (2, 200, "delivered")]
        assert doc["callback_url"] == receiver.url() and doc["next_attempt_at"] is None
        assert len(receiver.requests) == 2  # one job, one delivery: the 500 and its retry
        post = receiver.requests[-1]
        body = json.loads(post["body"])
        assert body["id"] == job_id and body["status"] in JOB_FINAL
        job = http.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).get_json()
        assert body["status"] == job["status"]
        assert signature.verify(secret, post["body"], post["headers"][signature.HEADER])
        assert not signature.verify(secret, post["body"].replace(b'"status"', b'"Status"'),
                                    post["headers"][signature.HEADER])

        # another user sees nothing of it, and cannot trigger it
        mallory = register_and_login(http, "mallory")["access_token"]
        assert_error(deliveries(http, mallory, job_id), 404, "NOT_FOUND")
        assert_error(http.post(f"/api/v1/jobs/{job_id}/deliveries", headers=bearer(mallory)),
                     404, "NOT_FOUND")

        # POST redelivers: a second round, logged after the first
        answer = http.post(f"/api/v1/jobs/{job_id}/deliveries", headers=bearer(token))
        assert answer.status_code == 202, answer.get_data(as_text=True)
        doc = wait_until(lambda: (lambda d: d if len(d["attempts"]) == 3 else None)(
            deliveries(http, token, job_id).get_json()), timeout=30, message="the redelivery")
        assert (doc["attempts"][-1]["round"], doc["attempts"][-1]["http_status"]) == (2, 200)
        assert len(receiver.requests) == 3
        assert receiver.requests[-1]["body"] == post["body"]  # the same document, as sent


def test_a_job_without_callback_has_no_deliveries(http):
    token = register_and_login(http, "bob")["access_token"]
    job_id = submit(http, token).get_json()["id"]
    assert deliveries(http, token, job_id).get_json() == {
        "job_id": job_id, "status": None, "callback_url": None, "next_attempt_at": None,
        "attempts": []}
    assert_error(http.post(f"/api/v1/jobs/{job_id}/deliveries", headers=bearer(token)),
                 404, "NOT_FOUND")
    assert_error(deliveries(http, token, "0" * 32), 404, "NOT_FOUND")


NOT_HTTP = ["ftp://example.com/hook", "javascript:alert(1)", "file:///etc/passwd", "http://",
            "example.com/hook", "gopher://127.0.0.1:6379/_INFO"]


def test_a_callback_url_that_is_not_http_is_refused(http):
    token = register_and_login(http, "carol")["access_token"]
    for url in NOT_HTTP:
        answer = submit(http, token, url)
        assert_error(answer, 422, "INVALID_OPTIONS")
        assert answer.get_json()["error"]["details"]["field"] == "callback_url", url
    assert http.get("/api/v1/jobs", headers=bearer(token)).get_json()["items"] == []
