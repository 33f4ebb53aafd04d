"""Two notifier processes on one database and one broker vhost (the stack
runs two): each webhook attempt is sent once. The receiver fails the first
12 requests (500), so retries are due in both processes' polls at once;
each is claimed by one of them (services/notifier/store.py)."""
import uuid
from collections import Counter

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from convertix.contract import ACCOUNTS_SERVICE, JOB_WEBHOOK_DUE, JOBS_SERVICE, NOTIFIER_SERVICE
from services.accounts.service import AccountsService
from tests.conftest import make_service_config
from tests.helpers import wait_until
from tests.integration.test_notifier_restart import NotifierProcess
from tests.webhook_receiver import Receiver

JOBS = 12


@pytest.fixture
def two_notifiers(rabbit_config, db_url, tmp_path):
    processes = []
    for n in range(2):
        workdir = tmp_path / f"notifier{n}"
        workdir.mkdir()
        process = NotifierProcess(rabbit_config["AMQP_URI"], db_url, workdir)
        process.env["WEBHOOK_BASE_DELAY_S"] = "1"
        processes.append(process)
        process.start()
    yield processes
    for process in processes:
        process.stop()


def test_two_notifiers_send_each_attempt_once(
        container_factory, rabbit_config, db_url, storage_root, two_notifiers, rabbit_manager):
    config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root)
    container_factory(AccountsService, config).start()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        user = rpc[ACCOUNTS_SERVICE].register("two-" + uuid.uuid4().hex[:8], "password-1")

    def consumers():
        for process in two_notifiers:
            assert process.proc.poll() is None, process.log()
        try:
            return rabbit_manager.get_queue(rabbit_config["vhost"], "rpc-notifier")["consumers"]
        except Exception:  # not declared yet
            return 0
    wait_until(lambda: consumers() == 2, timeout=90, message="two notifiers consuming")

    def deliveries(job_id):
        with ClusterRpcProxy(config, timeout=10) as rpc:
            return rpc[NOTIFIER_SERVICE].deliveries_of(job_id, user["id"])

    job_ids = [uuid.uuid4().hex for _ in range(JOBS)]
    with Receiver([500] * JOBS) as receiver:
        dispatch = event_dispatcher(config)
        for job_id in job_ids:
            dispatch(JOBS_SERVICE, JOB_WEBHOOK_DUE, {
                "job_id": job_id, "user_id": user["id"], "seq": 3,
                "document": {"id": job_id, "status": "succeeded", "tasks": []},
                "callback_url": receiver.url()})
        done = [wait_until(lambda: (lambda d: d if d["status"] != "pending" else None)(
            deliveries(job_id)), timeout=90, message=f"delivery {job_id}") for job_id in job_ids]
        sent = Counter(r["headers"].get("X-Convertix-Job") for r in receiver.requests)
    assert [d["status"] for d in done] == ["delivered"] * JOBS
    # every delivery was retried (12 failures went to 12 different attempts)
    # and each attempt reached the receiver once: never twice from two notifiers
    attempts = {job_id: [a["attempt"] for a in d["attempts"]] for job_id, d in zip(job_ids, done)}
    assert sum(len(a) for a in attempts.values()) == JOBS * 2, attempts
    assert all(a == list(range(1, len(a) + 1)) for a in attempts.values()), attempts
    assert sent == {job_id: len(a) for job_id, a in attempts.items()}, (sent, attempts)
