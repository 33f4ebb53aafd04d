"""The notifier on real RabbitMQ and real databases (SQLite and PostgreSQL),
with a real HTTP receiver on loopback: one signed POST per final job, retries
on 5xx, failures on 4xx, the SSRF guard, redelivery and the attempt log.

The jobs service's JOB_WEBHOOK_DUE event is dispatched here as it dispatches it
(tests/e2e covers the whole chain)."""
import json
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client import REGISTRY

from convertix import signature
from convertix.contract import (
    ACCOUNTS_SERVICE,
    JOB_CHANGED,
    JOB_WEBHOOK_DUE,
    JOBS_EVENTS_EXCHANGE,
    JOBS_SERVICE,
    NOTIFIER_SERVICE,
    PROCESSING,
    SUCCEEDED,
)
from convertix.errors import NotFound
from services.accounts.service import AccountsService
from services.notifier.service import OBSOLETE_QUEUE, NotifierService
from tests.conftest import make_service_config
from tests.helpers import wait_until
from tests.webhook_receiver import Receiver

BASE_DELAY_S = 0.3


def notifier_config(rabbit_config, db_url, storage_root, allow_private=True):
    return make_service_config(
        rabbit_config["AMQP_URI"], db_url, storage_root,
        DB_URIS={"accounts:Base": db_url, "notifier:Base": db_url},
        NOTIFIER={"base_delay_s": BASE_DELAY_S, "factor": 2, "jitter": 0.25, "max_attempts": 4,
                  "timeout_s": 2},
        WEBHOOK_ALLOW_PRIVATE=allow_private)


class System:
    def __init__(self, config):
        self.config = config
        self.dispatch = event_dispatcher(config)
        with ClusterRpcProxy(config, timeout=30) as rpc:
            self.user = rpc[ACCOUNTS_SERVICE].register("hook-" + uuid.uuid4().hex[:8], "password-1")

    def rpc(self, method, *args):
        with ClusterRpcProxy(self.config, timeout=30) as rpc:
            return getattr(rpc[NOTIFIER_SERVICE], method)(*args)

    def webhook_due(self, job_id, status, callback_url, seq=1):
        document = {"id": job_id, "status": status, "tasks": [], "callback_url": callback_url}
        self.dispatch(JOBS_SERVICE, JOB_WEBHOOK_DUE, {
            "job_id": job_id, "user_id": self.user["id"], "seq": seq, "document": document,
            "callback_url": callback_url})
        return document

    def deliveries(self, job_id):
        return self.rpc("deliveries_of", job_id, self.user["id"])

    def wait_status(self, job_id, *statuses, timeout=30):
        return wait_until(lambda: (lambda d: d if d["status"] in statuses else None)(
            self.deliveries(job_id)), timeout=timeout, message=f"delivery {statuses}")


@pytest.fixture
def system(runner_factory, rabbit_config, db_url, storage_root):
    config = notifier_config(rabbit_config, db_url, storage_root)
    runner_factory(config, AccountsService, NotifierService).start()
    return System(config)


def new_job():
    return uuid.uuid4().hex


def test_one_signed_post_per_final_job(system):
    with Receiver() as receiver:
        job_id, other = new_job(), new_job()
        system.webhook_due(job_id, PROCESSING, receiver.url(), seq=1)   # not final: nothing
        document = system.webhook_due(job_id, SUCCEEDED, receiver.url(), seq=2)
        system.webhook_due(job_id, SUCCEEDED, receiver.url(), seq=2)    # the event, twice
        system.webhook_due(other, SUCCEEDED, receiver.url())
        system.wait_status(job_id, "delivered")
        system.wait_status(other, "delivered")
        wait_until(lambda: len(receiver.requests) >= 2, message="two posts")
    jobs = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert sorted(jobs) == sorted([job_id, other])  # exactly one each
    (post,) = [r for r in receiver.requests if json.loads(r["body"])["id"] == job_id]
    assert json.loads(post["body"]) == document
    header = post["headers"][signature.HEADER]
    assert signature.verify(system.user["webhook_secret"], post["body"], header)
    tampered = post["body"].replace(b"succeeded", b"failed")
    assert not signature.verify(system.user["webhook_secret"], tampered, header)
    (attempt,) = system.deliveries(job_id)["attempts"]
    assert attempt["http_status"] == 200 and attempt["outcome"] == "delivered"


def test_events_without_a_callback_or_before_the_end_make_no_delivery(system):
    with Receiver() as receiver:
        job_id = new_job()
        system.webhook_due(job_id, SUCCEEDED, None)
        system.webhook_due(new_job(), PROCESSING, receiver.url())
        probe = new_job()  # handled after the two above: their turn has passed
        system.webhook_due(probe, SUCCEEDED, receiver.url())
        system.wait_status(probe, "delivered")
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [probe]
    assert system.deliveries(job_id)["status"] is None


def attempts_counted(outcome):
    return REGISTRY.get_sample_value("convertix_webhook_attempts_total", {"outcome": outcome}) or 0


def test_a_receiver_failing_twice_gets_the_third_try(system):
    before = {outcome: attempts_counted(outcome) for outcome in ("retry", "delivered")}
    with Receiver([500, 503]) as receiver:
        job_id = new_job()
        system.webhook_due(job_id, SUCCEEDED, receiver.url())
        doc = system.wait_status(job_id, "delivered")
    assert len(receiver.requests) == 3
    assert [(a["attempt"], a["http_status"], a["outcome"]) for a in doc["attempts"]] == [
        (1, 500, "retry"), (2, 503, "retry"), (3, 200, "delivered")]
    assert all(a["latency_ms"] >= 0 and a["at"].endswith("Z") for a in doc["attempts"])
    assert len({r["headers"][signature.HEADER] for r in receiver.requests}) == 1
    assert attempts_counted("retry") - before["retry"] == 2
    assert attempts_counted("delivered") - before["delivered"] == 1


def test_a_4xx_ends_it_failed_and_a_redelivery_starts_again(system):
    with Receiver([404]) as receiver:
        job_id = new_job()
        system.webhook_due(job_id, SUCCEEDED, receiver.url())
        failed = system.wait_status(job_id, "failed")
        assert [a["http_status"] for a in failed["attempts"]] == [404]
        assert failed["next_attempt_at"] is None
        system.rpc("redeliver", job_id, system.user["id"])
        doc = system.wait_status(job_id, "delivered")
    assert [(a["round"], a["attempt"], a["http_status"]) for a in doc["attempts"]] == [
        (1, 1, 404), (2, 1, 200)]
    assert len(receiver.requests) == 2


def test_redelivery_makes_the_delivery_the_notifier_never_saw(system):
    with Receiver() as receiver:
        job_id = new_job()
        document = {"id": job_id, "status": SUCCEEDED, "tasks": [], "callback_url": receiver.url()}
        with pytest.raises(NotFound):  # not final: nothing to send
            system.rpc("redeliver", job_id, system.user["id"], {**document, "status": PROCESSING})
        system.rpc("redeliver", job_id, system.user["id"], document)
        doc = system.wait_status(job_id, "delivered")
    assert [(a["round"], a["attempt"], a["http_status"]) for a in doc["attempts"]] == [(1, 1, 200)]
    assert json.loads(receiver.requests[0]["body"]) == document


def test_attempts_stop_at_max_attempts(system):
    with Receiver([500] * 10) as receiver:
        job_id = new_job()
        system.webhook_due(job_id, SUCCEEDED, receiver.url())
        doc = system.wait_status(job_id, "failed")
    assert [a["outcome"] for a in doc["attempts"]] == ["retry"] * 4  # max_attempts: 4
    assert len(receiver.requests) == 4


def test_another_users_deliveries_are_not_shown(system):
    with Receiver() as receiver:
        job_id = new_job()
        system.webhook_due(job_id, SUCCEEDED, receiver.url())
        system.wait_status(job_id, "delivered")
    assert system.rpc("deliveries_of", job_id, uuid.uuid4().hex)["attempts"] == []


@pytest.fixture
def guarded(runner_factory, rabbit_config, db_url, storage_root):
    config = notifier_config(rabbit_config, db_url, storage_root, allow_private=False)
    runner_factory(config, AccountsService, NotifierService).start()
    return System(config)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_callbacks_are_refused_unless_allowed(guarded, host):
    with Receiver() as receiver:
        job_id = new_job()
        guarded.webhook_due(job_id, SUCCEEDED, receiver.url(host))
        doc = guarded.wait_status(job_id, "failed")
    assert receiver.requests == []
    (attempt,) = doc["attempts"]
    assert attempt["http_status"] is None and attempt["outcome"] == "failed"
    assert attempt["error"] == "address_refused"  # never the address it resolved to


def test_the_queue_an_earlier_notifier_left_is_deleted_at_start(
        runner_factory, rabbit_config, sqlite_url, storage_root):
    # as the notifier before job_webhook_due declared it: bound to every job_changed
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        exchange = Exchange(JOBS_EVENTS_EXCHANGE, type="topic", durable=True)
        Queue(OBSOLETE_QUEUE, exchange, routing_key=JOB_CHANGED, durable=True)(
            conn.default_channel).declare()
        conn.default_channel.queue_declare(OBSOLETE_QUEUE, passive=True)  # it is there

    config = notifier_config(rabbit_config, sqlite_url, storage_root)
    runner_factory(config, AccountsService, NotifierService).start()
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        with pytest.raises(Exception, match="NOT_FOUND|no queue"):
            conn.default_channel.queue_declare(OBSOLETE_QUEUE, passive=True)
