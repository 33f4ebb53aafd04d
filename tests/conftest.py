"""Fixtures shared by every test layer.

RabbitMQ is real: nameko's own `rabbit_config` fixture gives each test a
fresh vhost on the local broker. Databases are real: SQLite files, and a
fresh PostgreSQL database per test (PostgreSQL is started by
scripts/start-backends.sh, which `make test` runs).
"""
import contextlib
import os
import secrets
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from infra import migrations

POSTGRES_ADMIN_URL = os.environ.get(
    "CONVERTIX_TEST_POSTGRES_URL",
    "postgresql+psycopg2://convertix:convertix@localhost:5432/postgres")

TEST_JWT_SECRET = secrets.token_hex(32)

# The layers: each folder under tests/ marks its tests with its own name, so
# `-m abuse` selects tests/abuse and nothing else. pytest reads `pytestmark`
# only in test modules, never in a conftest.py: hence this hook.
LAYERS = {
    "unit": "pure functions (tests/unit)",
    "service": "one service's logic under worker_factory, real databases (tests/service)",
    "integration": "services together on real RabbitMQ and databases, in process (tests/integration)",
    "e2e": "the whole system as processes, over HTTP (tests/e2e)",
    "abuse": "attacks against the system as processes (tests/abuse)",
    "web": "the OpenAPI document, and the page in Chromium (tests/web)",
    "cli": "the convertix command against the system as processes (tests/cli)",
    "metrics": "the Prometheus metrics and their deployment files (tests/metrics)",
    "scaling": "the scaler and its local backend, converters as processes (tests/scaling)",
    "swarm": "converters as a Docker Swarm service on this machine (tests/swarm)",
    "deploy": "the images on a three-node swarm of this machine (tests/deploy)",
}
# Marks on top of the layer's, by folder. `processes`: the test starts the
# system, or converters, as processes (nameko run, gunicorn, Docker): what
# `make test-fast` leaves out. Single modules elsewhere say it with their own
# `pytestmark` (tests/metrics, tests/web/test_browser.py).
PROCESSES = "processes"
EXTRA_MARKS = {
    **{(layer,): (PROCESSES,) for layer in ("e2e", "abuse", "cli", "scaling", "swarm", "deploy")},
    ("web", "browser"): ("browser", PROCESSES),
}
OTHER_MARKS = {
    PROCESSES: "starts the system, or converters, as processes (make test-fast leaves these out)",
    "browser": "drives the web page in Debian's chromium (playwright), against the system as processes",
}
TESTS = Path(__file__).resolve().parent


def marks_of(path):
    """The marks a test file gets from its folders: its layer (the folder
    right under tests/) and what EXTRA_MARKS adds."""
    try:
        folders = Path(path).resolve().relative_to(TESTS).parts[:-1]
    except ValueError:  # not under tests/
        return ()
    if not folders or folders[0] not in LAYERS:
        return ()
    extra = [mark for where, marks in EXTRA_MARKS.items() if folders[:len(where)] == where
             for mark in marks]
    return tuple(dict.fromkeys((folders[0], *extra)))


def pytest_configure(config):
    for name, doc in {**LAYERS, **OTHER_MARKS}.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in marks_of(item.path):
            item.add_marker(name)


@contextlib.contextmanager
def fresh_postgres_database(prefix="convertix_test_"):
    """A new, empty PostgreSQL database (its URL), dropped afterwards."""
    name = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        from tests.helpers import wait_until

        # FORCE ends our connections, but not a backend of another role on
        # the database (an autovacuum worker, which our role may not signal):
        # the DROP is then refused (seen in the suite), and succeeds once
        # that backend is done.
        wait_until(lambda: _dropped(admin, name), timeout=30, interval=0.2,
                   message=f"database {name} dropped")
        admin.dispose()


def _dropped(admin, name):
    from sqlalchemy.exc import ProgrammingError

    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except ProgrammingError as exc:
        if "InsufficientPrivilege" not in type(exc.orig).__name__:
            raise
        return False
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    """A fresh, empty database of each kind (not migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/convertix.db"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def db_url(empty_db_url):
    """A fresh database of each kind, migrated to head as `make migrate` leaves it
    (the services refuse to start on anything else)."""
    migrations.upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database, migrated to head: for what only
    PostgreSQL has (row and advisory locks shared by several processes)."""
    with fresh_postgres_database() as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh SQLite database, migrated to head."""
    url = f"sqlite:///{tmp_path}/convertix.db"
    migrations.upgrade(url)
    return url


def make_service_config(amqp_uri, db_url, storage_root, **overrides):
    """The config dict a `nameko run --config config.yaml` would produce."""
    config = {
        "AMQP_URI": amqp_uri,
        "max_workers": 2,
        "DB_URIS": {"accounts:Base": db_url, "jobs:Base": db_url},
        "STORAGE": {"root": str(storage_root)},
        # progress_after_s 0: every task reports its start and stages (tests
        # wait for tasks to be processing; the default reports slow ones only)
        "CONVERTER": {"max_attempts": 3, "timeout_s": 20, "memory_mb": 1024,
                      "progress_after_s": 0},
        "LIMITS": {"max_file_bytes": 20 * 2**20, "max_files": 50},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@pytest.fixture
def storage_root(tmp_path):
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def service_config(rabbit_config, sqlite_url, storage_root):
    return make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root)
