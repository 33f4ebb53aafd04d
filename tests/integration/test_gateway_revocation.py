"""A logout through one gateway process is refused at once by another (two
gateway apps on the same services and storage folder; gateway/revocations.py)."""
import pytest

from gateway import create_app
from gateway.settings import settings_from
from services.accounts.service import AccountsService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config


@pytest.fixture
def two_gateways(runner_factory, rabbit_config, sqlite_url, storage_root):
    service_config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root)
    runner_factory(service_config, AccountsService, JobsService).start()
    apps = [create_app({**settings_from(service_config), "TESTING": True,
                        "JWT_SECRET_KEY": TEST_JWT_SECRET}) for _ in range(2)]
    yield [app.test_client() for app in apps]
    for app in apps:
        app.extensions["convertix.rpc"].close()


def test_a_logout_holds_at_once_in_another_gateway(two_gateways):
    a, b = two_gateways
    assert a.post("/api/v1/auth/register",
                  json={"username": "leaver", "password": "pass word 1"}).status_code == 201
    token = a.post("/api/v1/auth/login", json={"username": "leaver", "password": "pass word 1"}
                   ).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert b.get("/api/v1/auth/me", headers=bearer).status_code == 200  # b remembers "valid"
    assert a.post("/api/v1/auth/logout", headers=bearer).status_code == 204
    for client in (b, a):
        answer = client.get("/api/v1/auth/me", headers=bearer)
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "TOKEN_REVOKED"
