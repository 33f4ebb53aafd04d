"""A notifier killed (SIGKILL) during a delivery's backoff delivers after it
is started again: the pending delivery lives in the database. The notifier
runs as `make run` runs it (infra.runner, config.yaml, settings from the
environment), on a real broker vhost and real databases."""
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from convertix.contract import ACCOUNTS_SERVICE, JOB_WEBHOOK_DUE, JOBS_SERVICE, NOTIFIER_SERVICE
from services.accounts.service import AccountsService
from tests.conftest import make_service_config
from tests.helpers import stop_process_group, wait_until
from tests.webhook_receiver import Receiver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKOFF_S = 4  # long enough to kill the notifier inside it


class NotifierProcess:
    def __init__(self, amqp_uri, db_url, workdir):
        self.workdir = workdir
        self.env = {**os.environ, "AMQP_URI": amqp_uri, "DATABASE_URL": db_url,
                    "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BASE_DELAY_S": str(BACKOFF_S),
                    "LOG_DIR": str(workdir / "log"), "METRICS_PORT": "0",
                    "METRICS_TARGETS_DIR": str(workdir / "targets"), "PYTHONUNBUFFERED": "1"}
        self.proc = None

    def start(self):
        log = open(self.workdir / "notifier.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.runner", "--config", "config.yaml",
             "services.notifier.service"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self):
        stop_process_group(self.proc, signal.SIGKILL)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_process_group(self.proc)

    def log(self):
        return (self.workdir / "notifier.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def notifier(rabbit_config, db_url, tmp_path):
    process = NotifierProcess(rabbit_config["AMQP_URI"], db_url, tmp_path)
    yield process
    process.stop()


def test_a_notifier_killed_during_the_backoff_delivers_after_restart(
        container_factory, rabbit_config, db_url, storage_root, notifier):
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root)
    container_factory(AccountsService, config).start()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        user = rpc[ACCOUNTS_SERVICE].register("restart-" + uuid.uuid4().hex[:8], "password-1")

    def deliveries(job_id):
        assert notifier.proc.poll() is None, notifier.log()
        try:
            with ClusterRpcProxy(config, timeout=5) as rpc:
                return rpc[NOTIFIER_SERVICE].deliveries_of(job_id, user["id"])
        except Exception:  # not started yet
            return None

    notifier.start()
    job_id = uuid.uuid4().hex
    wait_until(lambda: deliveries(job_id), timeout=60, message="the notifier to answer")
    with Receiver([500]) as receiver:
        document = {"id": job_id, "status": "succeeded", "tasks": []}
        event_dispatcher(config)(JOBS_SERVICE, JOB_WEBHOOK_DUE, {
            "job_id": job_id, "user_id": user["id"], "seq": 3, "document": document,
            "callback_url": receiver.url()})
        pending = wait_until(lambda: (lambda d: d if d and d["attempts"] else None)(
            deliveries(job_id)), timeout=30, message="the first attempt")
        notifier.kill()
        killed_at = datetime.now(timezone.utc).replace(tzinfo=None)
        assert pending["status"] == "pending"
        retry_at = datetime.fromisoformat(pending["next_attempt_at"].rstrip("Z"))
        assert killed_at < retry_at, "killed inside the backoff"
        assert len(receiver.requests) == 1

        notifier.start()
        done = wait_until(lambda: (lambda d: d if d and d["status"] != "pending" else None)(
            deliveries(job_id)), timeout=60, message="the delivery after the restart")
    assert done["status"] == "delivered", notifier.log()
    assert [(a["attempt"], a["http_status"]) for a in done["attempts"]] == [(1, 500), (2, 200)]
    assert len(receiver.requests) == 2
