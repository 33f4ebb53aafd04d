"""Quota and DELETE through the HTTP API with the real services behind it
(real RabbitMQ, SQLite and PostgreSQL, the real converter)."""
import pytest

from gateway import create_app
from gateway.settings import settings_from
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.integration.conftest import png_bytes
from tests.integration.test_gateway_api import (
    assert_error,
    bearer,
    register_and_login,
    upload,
    wait_job,
)

QUOTA = 3000


@pytest.fixture
def http(runner_factory, rabbit_config, db_url, storage_root):
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root,
                                 JOBS={"quota_bytes": QUOTA})
    runner_factory(config, AccountsService, JobsService, ConverterService).start()
    app = create_app({**settings_from(config), "TESTING": True,
                      "JWT_SECRET_KEY": TEST_JWT_SECRET})
    yield app.test_client()
    app.extensions["convertix.rpc"].close()


def me(http, token):
    answer = http.get("/api/v1/auth/me", headers=bearer(token))
    assert answer.status_code == 200
    return answer.get_json()["storage"]


def test_quota_is_shown_and_enforced_and_delete_gives_it_back(http):
    token = register_and_login(http)["access_token"]
    assert me(http, token) == {"used_bytes": 0, "quota_bytes": QUOTA}
    image = png_bytes((40, 40))
    job = upload(http, token, [("a.png", image)], {"format": "bmp"}).get_json()
    doc = wait_job(http, token, job["id"])
    output = doc["tasks"][0]["output"]["bytes"]
    assert output > len(image)  # BMP is bigger: counted as it landed; the input is gone
    assert me(http, token)["used_bytes"] == output

    # the next upload would take the user past the quota: refused, nothing kept
    big = png_bytes((400, 400), colour=(1, 2, 3))
    assert output + len(big) > QUOTA
    answer = upload(http, token, [("big.png", big)], {"format": "png"})
    assert_error(answer, 413, "QUOTA_EXCEEDED")
    assert answer.get_json()["error"]["details"] == {
        "used_bytes": output, "adding_bytes": len(big), "quota_bytes": QUOTA}
    assert [j["id"] for j in http.get("/api/v1/jobs", headers=bearer(token))
            .get_json()["items"]] == [job["id"]]

    assert http.delete(f"/api/v1/jobs/{job['id']}", headers=bearer(token)).status_code == 204
    assert me(http, token)["used_bytes"] == 0
    assert upload(http, token, [("big.png", big)], {"format": "png"}).status_code == 202


def test_after_delete_the_job_is_gone_everywhere_for_its_owner(http):
    token = register_and_login(http)["access_token"]
    job_id = upload(http, token, [("a.png", png_bytes())], {"format": "png"}).get_json()["id"]
    wait_job(http, token, job_id)
    assert http.delete(f"/api/v1/jobs/{job_id}", headers=bearer(token)).status_code == 204

    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/events",
                 f"/api/v1/jobs/{job_id}/tasks/0/result", f"/api/v1/jobs/{job_id}/archive",
                 f"/api/v1/jobs/{job_id}/deliveries"):
        assert_error(http.get(path, headers=bearer(token)), 404, "NOT_FOUND")
    assert_error(http.delete(f"/api/v1/jobs/{job_id}", headers=bearer(token)), 404, "NOT_FOUND")
    assert http.get("/api/v1/jobs", headers=bearer(token)).get_json()["items"] == []


# --- per-user limits at the gateway ----------------------------------------------

@pytest.fixture
def limited(runner_factory, rabbit_config, sqlite_url, storage_root):
    config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root)
    runner_factory(config, AccountsService, JobsService, ConverterService).start()
    app = create_app({**settings_from(config), "TESTING": True,
                      "JWT_SECRET_KEY": TEST_JWT_SECRET, "SYNC_CONVERT_TIMEOUT_S": 20,
                      "JOB_RATE_LIMIT_PER_USER": "3 per minute",
                      "CONVERT_CONCURRENCY_PER_USER": 1})
    yield app
    app.extensions["convertix.rpc"].close()


def test_job_creation_is_limited_per_user_not_per_address(limited):
    http = limited.test_client()
    alice = register_and_login(http, "alice")["access_token"]
    bob = register_and_login(http, "bob")["access_token"]
    image = [("a.png", png_bytes())]
    for _ in range(2):
        assert upload(http, alice, image, {"format": "png"}).status_code == 202
    assert upload(http, alice, image, {"format": "png"}, path="/api/v1/convert").status_code \
        in (200, 202)
    assert_error(upload(http, alice, image, {"format": "png"}), 429, "RATE_LIMITED")
    assert_error(upload(http, alice, image, {"format": "png"}, path="/api/v1/convert"),
                 429, "RATE_LIMITED")
    # same address, another user: not limited by alice's count
    assert upload(http, bob, image, {"format": "png"}).status_code == 202


def test_convert_is_limited_to_the_concurrent_requests_of_a_user(limited):
    from gateway.slots import convert_slot

    http = limited.test_client()
    tokens = register_and_login(http, "carol")
    user_id = http.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).get_json()["id"]
    image = [("a.png", png_bytes())]
    with limited.test_request_context(), convert_slot(user_id):  # one /convert in flight
        answer = upload(http, tokens["access_token"], image, {"format": "png"},
                        path="/api/v1/convert")
        assert_error(answer, 429, "RATE_LIMITED")
        assert upload(http, tokens["access_token"], image, {"format": "png"}).status_code == 202
    answer = upload(http, tokens["access_token"], image, {"format": "png"}, path="/api/v1/convert")
    assert answer.status_code == 200  # the slot was given back
