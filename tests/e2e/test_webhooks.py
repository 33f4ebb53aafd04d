"""Webhooks through the whole system as processes, as `make run` starts it
(the notifier in a process of its own): an upload with a callback_url ends
in one signed POST to a real receiver, retried after a 500, logged at
GET /jobs/<id>/deliveries."""
import json

import pytest

from convertix import signature
from tests.e2e.conftest import BIN, Api, Stack
from tests.helpers import wait_until
from tests.integration.conftest import png_bytes
from tests.webhook_receiver import Receiver

NOTIFIER = [f"{BIN}/python", "-m", "infra.runner", "--config", "config.yaml",
            "services.notifier.service"]


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("hooks"),
                  env={"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BASE_DELAY_S": "0.5"}).start()
    try:
        stack.start_process("notifier", NOTIFIER)
        yield stack
    finally:
        stack.stop()


def test_an_upload_with_a_callback_gets_one_signed_post(hooks):
    api = Api(hooks, "hooked")
    secret = api.get("/auth/me").json()["webhook_secret"]
    # The notifier answers (its queues exist) before the job that must reach it.
    probe = api.upload([("p.png", png_bytes())], {"format": "png"}).json()["id"]
    wait_until(lambda: hooks.procs["notifier"].poll() is None
               and api.get(f"/jobs/{probe}/deliveries").status_code == 200,
               timeout=60, interval=0.25, message="the notifier")
    with Receiver([500]) as receiver:
        answer = api.session.post(
            api.base + "/jobs", files=[("file", ("a.png", png_bytes()))], timeout=60,
            data={"options": json.dumps({"format": "webp"}), "callback_url": receiver.url()})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        job = api.wait_final(job_id)

        def delivered():
            doc = api.get(f"/jobs/{job_id}/deliveries").json()
            return doc if doc["status"] == "delivered" else None
        doc = wait_until(delivered, timeout=60, interval=0.2, message="the webhook")
    assert [(a["http_status"], a["outcome"]) for a in doc["attempts"]] == [
        (500, "retry"), (200, "delivered")]
    assert len(receiver.requests) == 2
    post = receiver.requests[-1]
    assert json.loads(post["body"])["status"] == job["status"] == "succeeded"
    assert signature.verify(secret, post["body"], post["headers"][signature.HEADER])
    other = Api(hooks, "not-hooked")
    assert other.get(f"/jobs/{job_id}/deliveries").status_code == 404
