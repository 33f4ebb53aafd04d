"""Webhooks under attack: the delivery log as a banner grabber, a black-hole
receiver against another user's webhooks, unbounded redelivery, bad
callback URLs, and replayed deliveries.

The services run in this process on real RabbitMQ and real databases
(SQLite and PostgreSQL), the gateway is Flask's test client, the receivers
are real servers on 127.0.0.1 (allowed by WEBHOOK_ALLOW_PRIVATE, as in
tests/integration/test_notifier.py): no process stack is needed to reach
these paths, and the timings stay about the notifier alone.
"""
import io
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from standardwebhooks import webhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from convertix import signature
from convertix.contract import ACCOUNTS_SERVICE, JOB_WEBHOOK_DUE, JOBS_SERVICE, NOTIFIER_SERVICE
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
from tests.webhook_receiver import Receiver, black_hole, speaker

pytestmark = pytest.mark.abuse

BANNER = b"SSH-2.0-OpenSSH_9.2p1 secret-host\r\n"


# --- the notifier alone, fed job events as the jobs service sends them ---------

class Notifier:
    def __init__(self, config):
        self.config = config
        self.dispatch = event_dispatcher(config)

    def register(self, name):
        with ClusterRpcProxy(self.config, timeout=30) as rpc:
            return rpc[ACCOUNTS_SERVICE].register(f"{name}-{uuid.uuid4().hex[:8]}", "password-1")

    def job_final(self, user, callback_url):
        job_id = uuid.uuid4().hex
        self.dispatch(JOBS_SERVICE, JOB_WEBHOOK_DUE, {
            "job_id": job_id, "user_id": user["id"], "seq": 1, "callback_url": callback_url,
            "document": {"id": job_id, "status": "succeeded", "tasks": [],
                         "callback_url": callback_url}})
        return job_id

    def deliveries(self, user, job_id):
        with ClusterRpcProxy(self.config, timeout=30) as rpc:
            return rpc[NOTIFIER_SERVICE].deliveries_of(job_id, user["id"])


@pytest.fixture
def notifier(runner_factory, rabbit_config, db_url, storage_root):
    config = make_service_config(
        rabbit_config["AMQP_URI"], db_url, storage_root,
        DB_URIS={"accounts:Base": db_url, "notifier:Base": db_url},
        # a long timeout: a black hole holds each attempt this long
        NOTIFIER={"base_delay_s": 30, "max_attempts": 2, "timeout_s": 10},
        WEBHOOK_ALLOW_PRIVATE=True)
    runner_factory(config, AccountsService, NotifierService).start()
    return Notifier(config)


def test_a_banner_speaking_callback_leaves_no_banner_and_no_address(notifier, caplog):
    caplog.set_level(logging.INFO)  # what a deployment logs (urllib3's DEBUG names the pinned address)
    user = notifier.register("scanner")
    with speaker(BANNER) as ssh:
        # a name, so that an address in the log could only come from resolving it
        job_id = notifier.job_final(user, f"http://localhost:{ssh.port}/")
        doc = wait_until(lambda: (lambda d: d if d["attempts"] else None)(
            notifier.deliveries(user, job_id)), timeout=30, message="the first attempt")
    assert ssh.connections  # it was reached: the banner was there to leak
    (attempt,) = doc["attempts"]
    assert (attempt["http_status"], attempt["error"], attempt["outcome"]) == (
        None, "bad_response", "retry")
    shown = json.dumps(doc)
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    for leak in ("secret-host", "SSH-2.0", "OpenSSH", "127.0.0.1", "BadStatusLine"):
        assert leak not in shown, shown
        assert leak not in logged, leak


def test_a_black_hole_receiver_of_one_user_leaves_another_users_webhook_on_time(notifier):
    mallory, bob = notifier.register("mallory"), notifier.register("bob")

    def bobs_webhook_takes():
        with Receiver() as receiver:
            started = time.monotonic()
            notifier.job_final(bob, receiver.url())
            wait_until(lambda: receiver.requests, timeout=120, interval=0.02,
                       message="bob's webhook")
            return time.monotonic() - started

    normal = bobs_webhook_takes()
    with black_hole() as hole:
        mallorys = [notifier.job_final(mallory, f"http://127.0.0.1:{hole.port}/hook")
                    for _ in range(60)]
        wait_until(lambda: hole.connections, timeout=30, message="the black hole's first caller")
        loaded = bobs_webhook_takes()
        assert loaded <= normal + 2, f"bob's webhook took {loaded:.2f} s (normally {normal:.2f} s)"
        # mallory's are still being tried, a few at a time
        assert notifier.deliveries(mallory, mallorys[-1])["status"] == "pending"
        assert len(hole.connections) <= 8


# --- through the gateway: validation, redelivery, signatures --------------------

@pytest.fixture
def http(runner_factory, rabbit_config, db_url, storage_root):
    config = make_service_config(
        rabbit_config["AMQP_URI"], db_url, storage_root,
        DB_URIS={"accounts:Base": db_url, "jobs:Base": db_url, "notifier:Base": db_url},
        NOTIFIER={"base_delay_s": 30, "max_attempts": 2, "max_rounds": 3,
                  "redelivery_rate_limit_per_user": "6 per hour"},
        WEBHOOK_ALLOW_PRIVATE=True)
    runner_factory(config, AccountsService, JobsService, ConverterService, NotifierService).start()
    app = create_app({**settings_from(config), "TESTING": True, "JWT_SECRET_KEY": TEST_JWT_SECRET})
    yield app.test_client()
    app.extensions["convertix.rpc"].close()


def submit(http, token, callback_url):
    data = {"options": json.dumps({"format": "webp"}), "file": [(io.BytesIO(png_bytes()), "a.png")],
            "callback_url": callback_url}
    return http.post("/api/v1/jobs", data=data, headers=bearer(token),
                     content_type="multipart/form-data")


def delivery(http, token, job_id, status, attempts):
    def done():
        doc = http.get(f"/api/v1/jobs/{job_id}/deliveries", headers=bearer(token)).get_json()
        return doc if doc["status"] == status and len(doc["attempts"]) >= attempts else None
    return wait_until(done, timeout=60, message=f"delivery {status} after {attempts} attempts")


def redeliver(http, token, job_id):
    return http.post(f"/api/v1/jobs/{job_id}/deliveries", headers=bearer(token))


BAD_CALLBACKS = ["http://127.0.0.1:99999/", "http://[::1", "http://[::1/hook",
                 "ftp://127.0.0.1/hook", "http://127.0.0.1:0/", "http://bad host/"]


def test_a_bad_callback_url_is_422_with_its_field(http):
    token = register_and_login(http, "carol")["access_token"]
    for url in BAD_CALLBACKS:
        answer = submit(http, token, url)
        assert_error(answer, 422, "INVALID_OPTIONS")
        assert answer.get_json()["error"]["details"]["field"] == "callback_url", url
    assert http.get("/api/v1/jobs", headers=bearer(token)).get_json()["items"] == []


def test_redelivery_is_bounded(http):
    token = register_and_login(http, "dave")["access_token"]
    with Receiver([404] * 10) as refusing, Receiver([500] * 10) as failing:
        # rounds that end (a 404 fails at once): max_rounds 3 in all
        ended = submit(http, token, refusing.url()).get_json()["id"]
        delivery(http, token, ended, "failed", 1)
        for rounds in (2, 3):
            assert redeliver(http, token, ended).status_code == 202               # 1, 2
            delivery(http, token, ended, "failed", rounds)
        assert_error(redeliver(http, token, ended), 409, "REDELIVERY_LIMIT")      # 3
        assert len(refusing.requests) == 3

        # a round pending (a 500, the next attempt 30 s away): no new round
        pending = submit(http, token, failing.url()).get_json()["id"]
        delivery(http, token, pending, "pending", 1)
        for _ in range(3):                                                          # 4, 5, 6
            assert_error(redeliver(http, token, pending), 409, "NOT_READY")
        assert len(failing.requests) == 1

        # past 6 an hour, whatever the job: 429 with Retry-After
        answer = redeliver(http, token, ended)                                      # 7
        assert_error(answer, 429, "RATE_LIMITED")
        assert 1 <= int(answer.headers["Retry-After"]) <= 3600


def test_a_delivery_verifies_with_standard_webhooks_and_its_replay_does_not(http, monkeypatch):
    token = register_and_login(http, "frank")["access_token"]
    me = http.get("/api/v1/auth/me", headers=bearer(token)).get_json()
    assert me["webhook_secret_whsec"] == signature.whsec(me["webhook_secret"])
    receiver_check = Webhook(me["webhook_secret_whsec"])
    with Receiver() as receiver:
        job_id = submit(http, token, receiver.url()).get_json()["id"]
        delivery(http, token, job_id, "delivered", 1)
    (post,) = receiver.requests
    headers = {name.lower(): value for name, value in post["headers"].items()}
    assert receiver_check.verify(post["body"], headers)["id"] == job_id
    assert headers["webhook-id"] == f"msg_{job_id}"
    assert signature.verify(me["webhook_secret"], post["body"],
                            post["headers"][signature.HEADER])  # the older header stays

    # the same request sent again six minutes later: refused as a replay
    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(minutes=6)
    monkeypatch.setattr(webhooks, "datetime", Later)
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver_check.verify(post["body"], headers)
    # ... and with a fresh timestamp, the signature no longer matches
    fresh = {**headers, "webhook-timestamp": str(int(time.time()) + 360)}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver_check.verify(post["body"], fresh)
