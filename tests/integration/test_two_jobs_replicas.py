"""Two jobs-service replicas under a burst (the stack runs two): each task is
published and converted once, each webhook sent once, each job removed by
retention once.

Two `nameko run` processes of the real jobs service share one PostgreSQL
database, one storage folder and one broker vhost; accounts, a converter and
a notifier run in this process, and a webhook receiver listens on loopback.
Three users each create six jobs of four distinct tiny images, all sent
together, so the creations and the refills that follow every task's end
(fair sharing, a cap of 2 tasks per user: many refills) are handled by both
processes at once. Counted on every side:

- the conversion queue: a queue of our own bound to its exchange with its
  routing key gets a copy of every task message published (a refill of two
  processes that both read the same waiting tasks would publish them twice);
- the converter: its `task_succeeded` events, one per conversion, heard by a
  listener service of our own: one per task and delivery attempt;
- the records: no failure happened, so every task's `attempts` is 1;
- the receiver: one POST per job (`X-Convertix-Job`, `webhook-id`);
- retention (every second in both processes): once the jobs are made old,
  the two processes' "retention: removed N jobs" add up to the jobs, their
  files and records are gone, and each user's stored bytes are back to 0,
  never below (taken off twice).
"""
import json
import os
import re
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from kombu import Connection, Queue
from nameko.events import event_handler
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from convertix.contract import (
    ACCOUNTS_SERVICE,
    CONVERT_ROUTING_KEY,
    CONVERTER_SERVICE,
    JOB_FINAL,
    JOBS_SERVICE,
    NOTIFIER_SERVICE,
    TASK_SUCCEEDED,
    task_indexes,
)
from convertix.imaging import sniff
from convertix.storage import Storage
from infra.nameko.queues import convert_exchange, declare_all
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.models import Job, StorageUsage, Task
from services.notifier.service import NotifierService
from tests.conftest import make_service_config
from tests.helpers import jobs_processes, wait_until
from tests.integration.conftest import png_bytes
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.processes  # two `nameko run` jobs processes

USERS, JOBS_EACH, FILES = 3, 6, 4   # 18 jobs, 72 tasks
CAP = 2                             # a user's tasks on the queue at once: many refills
TAP = "two-replicas-tap"            # our copy of every task message published
CONVERTED = []                      # (job id, index, attempt) of every task_succeeded event


class ConvertedTally:
    """Hears every task_succeeded the converter sends (its own queue: a copy)."""
    name = "two_replicas_tally"

    @event_handler(CONVERTER_SERVICE, TASK_SUCCEEDED)
    def succeeded(self, payload):
        CONVERTED.append((payload["job_id"], payload["index"], payload["attempt"]))


@pytest.fixture
def system(runner_factory, rabbit_config, rabbit_manager, postgres_url, storage_root, tmp_path):
    """The config of the services in this process, once everything consumes."""
    amqp_uri = rabbit_config["AMQP_URI"]
    config = make_service_config(
        amqp_uri, postgres_url, storage_root,
        DB_URIS={"accounts:Base": postgres_url, "jobs:Base": postgres_url,
                 "notifier:Base": postgres_url},
        WEBHOOK_ALLOW_PRIVATE=True)
    declare_all(config)
    with Connection(amqp_uri) as conn:  # bound before anything is published
        Queue(TAP, exchange=convert_exchange, routing_key=CONVERT_ROUTING_KEY,
              durable=False)(conn.channel()).declare()
    CONVERTED.clear()
    runner_factory(config, AccountsService, ConverterService, NotifierService,
                   ConvertedTally).start()
    env = {"AMQP_URI": amqp_uri, "DATABASE_URL": postgres_url,
           "STORAGE_ROOT": str(storage_root), "MAX_TASKS_IN_FLIGHT_PER_USER": str(CAP),
           "CHUNK_MAX_TASKS": "1",       # one message per task: a refill per task's end
           "REUSE_RESULTS": "false",     # every task converted (its images differ anyway)
           "RETENTION_INTERVAL_S": "1",  # both processes sweep every second,
           "RETENTION_BATCH": "2",       # a few jobs each: many sweeps, in both
           "LOG_DIR": str(tmp_path / "log"), "METRICS_PORT": "0",
           "METRICS_TARGETS_DIR": str(tmp_path / "targets"), "PYTHONUNBUFFERED": "1"}
    with jobs_processes("services.jobs.service:JobsService", env, rabbit_config,
                        rabbit_manager, tmp_path):
        yield config


def tapped(amqp_uri):
    """(job id, index) of every task message published, taken off our copy."""
    found = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue=TAP, no_ack=True)) is not None:
            body = json.loads(message.body)
            found.extend((body["job_id"], index) for index in task_indexes(body))
    return found


def job_images(user_n, job_n):
    """FILES tiny PNGs, each unlike any other of the test."""
    return [(f"{i}.png", png_bytes(size=(24 + i, 16), colour=(user_n * 40, job_n * 20, i * 60)))
            for i in range(FILES)]


def retention_removed(tmp_path):
    """Jobs each process's retention sweeps said they removed, by process."""
    return [sum(int(n) for n in re.findall(r"retention: removed (\d+) jobs",
                                           (tmp_path / f"jobs{p}.log").read_text(errors="replace")))
            for p in range(2)]


def test_two_jobs_replicas_convert_notify_and_remove_each_job_once(
        system, rabbit_config, postgres_url, storage_root, tmp_path):
    config, storage = system, Storage(storage_root)
    with ClusterRpcProxy(config, timeout=60) as rpc:
        users = [rpc[ACCOUNTS_SERVICE].register(f"replica{n}-" + uuid.uuid4().hex[:8],
                                                "password-1")["id"] for n in range(USERS)]
    with Receiver() as receiver, ClusterRpcProxy(config, timeout=60) as rpc:
        # the burst: every job's inputs stored as the gateway does, then
        # every creation sent at once (RabbitMQ shares them out to both processes)
        jobs, replies = {}, []
        for user_n, user_id in enumerate(users):
            for job_n in range(JOBS_EACH):
                job_id, files = uuid.uuid4().hex, job_images(user_n, job_n)
                for index, (_name, data) in enumerate(files):
                    storage.write(storage.input_path(job_id, index), data)
                described = [{"filename": name, "format": sniff(data), "bytes": len(data)}
                             for name, data in files]
                jobs[job_id] = user_id
                replies.append(rpc[JOBS_SERVICE].create_job.call_async(
                    job_id, user_id, {"format": "webp"}, described,
                    callback_url=receiver.url()))
        assert {reply.result()["id"] for reply in replies} == set(jobs)

        def final_documents():
            documents = [rpc[JOBS_SERVICE].get_job(job_id, user_id)
                         for job_id, user_id in jobs.items()]
            return documents if all(d["status"] in JOB_FINAL for d in documents) else None
        documents = wait_until(final_documents, timeout=120, interval=0.5,
                               message="every job final")

        def delivered():
            states = [rpc[NOTIFIER_SERVICE].deliveries_of(job_id, user_id)["status"]
                      for job_id, user_id in jobs.items()]
            return states if all(s != "pending" for s in states) else None
        deliveries = wait_until(delivered, timeout=60, interval=0.5,
                                message="every webhook delivered")
        stored = {user_id: rpc[JOBS_SERVICE].storage_usage(user_id)["used_bytes"]
                  for user_id in users}

        # retention: the jobs made a month old; both processes' next sweeps remove them
        engine = create_engine(postgres_url)
        try:
            with Session(engine) as session:
                session.execute(update(Job).values(updated_at=Job.updated_at - timedelta(days=30)))
                session.commit()

            def records_left():
                with Session(engine) as session:
                    return (session.execute(select(func.count(Job.id))).scalar_one()
                            + session.execute(select(func.count(Task.id))).scalar_one())
            wait_until(lambda: records_left() == 0, timeout=60, interval=0.5,
                       message="every job removed by retention")
            with Session(engine) as session:
                usage = {row.user_id: row.used_bytes
                         for row in session.execute(select(StorageUsage)).scalars()}
        finally:
            engine.dispose()
        posts = Counter(r["headers"].get("X-Convertix-Job") for r in receiver.requests)
        webhook_ids = Counter(r["headers"].get("webhook-id") for r in receiver.requests)

    # both processes took part in the burst
    logs = [(tmp_path / f"jobs{p}.log").read_text(errors="replace") for p in range(2)]
    assert all(" queued: " in log for log in logs), [log[-2000:] for log in logs]
    every_task = {(job_id, i) for job_id in jobs for i in range(FILES)}
    # every job succeeded, every task on its first attempt (no failure: no retry allowed)
    assert [d["status"] for d in documents] == ["succeeded"] * len(jobs)
    attempts = Counter(t["attempts"] for d in documents for t in d["tasks"])
    assert attempts == {1: len(every_task)}, attempts
    # each task published once, and converted once per delivery of its
    # message (at least once: a redelivery, attempt 2, may convert again; a
    # second copy of the message is a second attempt 1)
    published = Counter(tapped(rabbit_config["AMQP_URI"]))
    converted = Counter(CONVERTED)
    assert (set(published), {task[:2] for task in converted}) == (every_task, every_task)
    twice = {"published": {task: n for task, n in published.items() if n > 1},
             "converted": {task: n for task, n in converted.items() if n > 1}}
    assert twice == {"published": {}, "converted": {}}
    # one webhook per job, sent once
    assert deliveries == ["delivered"] * len(jobs)
    assert posts == {job_id: 1 for job_id in jobs}, posts
    assert webhook_ids == {f"msg_{job_id}": 1 for job_id in jobs}, webhook_ids
    # retention removed each job once: the sweeps' counts add up, the files
    # are gone, and each user's bytes (the outputs, before) were taken off once
    outputs = Counter()
    for document in documents:
        outputs[jobs[document["id"]]] += sum(t["output"]["bytes"] for t in document["tasks"])
    assert stored == dict(outputs) and all(stored.values()), (stored, outputs)
    assert sum(wait_until(lambda: (lambda r: r if sum(r) >= len(jobs) else None)(
        retention_removed(tmp_path)), timeout=30, message="the sweeps' log lines")) == len(jobs)
    assert not any(os.path.exists(storage.job_dir(job_id)) for job_id in jobs)
    assert usage == {user_id: 0 for user_id in users}, usage
