"""make run's own RabbitMQ user (scripts/rabbit-user.sh), not guest: a
generated password kept private in .secrets/, accepted by the real broker."""
import os
import stat
import subprocess
import uuid

import pytest
import requests
from amqp.exceptions import AccessRefused
from kombu import Connection

from tests.e2e.conftest import AUTH, MANAGEMENT, ROOT

SECRETS = os.path.join(ROOT, ".secrets")
PASSWORD_FILE = os.path.join(SECRETS, "amqp.password")


def make_user(name):
    subprocess.run(["bash", "scripts/rabbit-user.sh"], cwd=ROOT, check=True, timeout=120,
                   capture_output=True, env={**os.environ, "CONVERTIX_AMQP_USER": name})


def connects(user, password):
    with Connection(f"amqp://{user}:{password}@localhost:5672//", connect_timeout=5) as conn:
        conn.connect()
        return conn.connected


@pytest.fixture
def user():
    name = f"convertix-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["rabbitmqctl", "-q", "delete_user", name], capture_output=True, timeout=60)


def test_the_broker_user_has_a_private_generated_password(user):
    make_user(user)
    assert stat.S_IMODE(os.stat(SECRETS).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(PASSWORD_FILE).st_mode) == 0o600
    with open(PASSWORD_FILE) as f:
        password = f.read().strip()
    assert len(password) >= 32
    assert connects(user, password)
    with pytest.raises(AccessRefused):
        connects(user, password + "x")
    # the management API's queue stats need the monitoring tag
    answer = requests.get(f"{MANAGEMENT}/users/{user}", auth=AUTH, timeout=10)
    assert answer.status_code == 200 and "monitoring" in answer.json()["tags"]

    make_user(user)  # again: the same password, still accepted
    with open(PASSWORD_FILE) as f:
        assert f.read().strip() == password
    assert connects(user, password)
