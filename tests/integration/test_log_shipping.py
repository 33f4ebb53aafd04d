"""Shipping logs to Elasticsearch: the real `elasticsearch` client, over HTTP,
to tests/fake_elasticsearch.py (Elasticsearch itself cannot be installed here)."""
import json
import logging
import os
import re
import time

import pytest

from infra.logs import context
from infra.logs.ecs import get_field
from infra.logs.search import LogQuery, search
from infra.logs.setup import ConvertixHandler, LogSettings
from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import wait_until

DATA_STREAM = "logs-convertix-test"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"debug", "info", "warning", "error", "critical"}


@pytest.fixture
def fake():
    server = FakeElasticsearch().start()
    yield server
    server.stop()


@pytest.fixture
def shipping(tmp_path, fake):
    """A logger whose lines go through a ConvertixHandler to `fake`; (logger, handler)."""
    handlers = []

    def make(**overrides):
        settings = LogSettings.from_section({
            "dir": str(tmp_path / "log"), "elasticsearch_url": fake.url,
            "data_stream": DATA_STREAM, "flush_interval_s": 0.05, "min_backoff_s": 0.05,
            "max_backoff_s": 0.5, "request_timeout_s": 2, "adopt_interval_s": 0.2,
            **overrides})
        handler = ConvertixHandler(settings, name="shiptest")
        logger = logging.getLogger(f"convertix.test.shipping.{len(handlers)}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        handlers.append((logger, handler))
        return logger, handler

    yield make
    for logger, handler in handlers:
        logger.removeHandler(handler)
        handler.close()


def assert_ecs(doc):
    """The ECS fields every Convertix line has, with ECS's types."""
    assert TIMESTAMP.match(get_field(doc, "@timestamp")), doc
    assert get_field(doc, "ecs.version")
    assert get_field(doc, "log.level") in LEVELS
    assert isinstance(get_field(doc, "message"), str)
    assert isinstance(get_field(doc, "log.logger"), str)
    assert isinstance(get_field(doc, "process.pid"), int)
    assert isinstance(get_field(doc, "service.name"), str)
    assert isinstance(get_field(doc, "host.name"), str)
    for key, value in doc.items():  # objects nest; only ECS's few dotted top-level names
        assert "." not in key or key in {"log.level", "ecs.version"}, key


def messages(fake):
    return [source["message"] for source in fake.sources(DATA_STREAM)]


def test_a_jobs_lines_arrive_as_ecs_documents_and_search_the_same_from_both_backends(
        shipping, fake):
    logger, handler = shipping()
    with context.bound(trace_id="a" * 32, job_id="job-1", user_id="user-1", service="jobs"):
        logger.info("job job-1 queued: 2 tasks")
        with context.bound(task_index=1):
            logger.warning("task job-1/1 failed: %s", "CORRUPT_IMAGE")
    logger.info("unrelated line")
    wait_until(lambda: len(messages(fake)) == 3, timeout=15, message="3 lines in Elasticsearch")

    docs = fake.sources(DATA_STREAM)
    for doc in docs:
        assert_ecs(doc)
    queued, failed, unrelated = docs
    assert get_field(queued, "service.name") == "jobs"
    assert get_field(queued, "trace.id") == "a" * 32
    assert get_field(queued, "convertix.job_id") == "job-1"
    assert get_field(queued, "user.id") == "user-1"
    assert get_field(failed, "convertix.task_index") == 1
    assert get_field(failed, "log.level") == "warning"
    assert get_field(unrelated, "convertix.job_id") is None
    assert get_field(unrelated, "service.name") == "shiptest"
    # Only `create` into the data stream, with ids; 8.x client, 8.x server.
    assert {method for method, path, _ in fake.requests if "_bulk" in path} <= {"POST", "PUT"}

    # The same query, answered by Elasticsearch and by the local store: the same items.
    query = LogQuery.from_args({"job_id": "job-1"})
    from_es = search(handler.settings, query)
    local_settings = LogSettings.from_section({"dir": handler.settings.dir})
    from_local = search(local_settings, query)
    assert from_es["backend"] == "elasticsearch" and from_local["backend"] == "local"
    assert from_es["count"] == from_local["count"] == 2
    assert from_es["items"] == from_local["items"]
    assert [d["message"] for d in from_es["items"]] == [  # newest first
        "task job-1/1 failed: CORRUPT_IMAGE", "job job-1 queued: 2 tasks"]
    for args, expected in (({"level": "WARNING"}, 1), ({"q": "QUEUED tasks"}, 1),
                           ({"service": "jobs"}, 2), ({"q": "nothing-like-this"}, 0)):
        query = LogQuery.from_args(args)
        assert search(handler.settings, query)["items"] == \
            search(local_settings, query)["items"], args
        assert search(local_settings, query)["count"] == expected, args


class OneMillisecond(logging.Filter):
    """Every record at the same instant: the lines tie on `@timestamp`."""
    def filter(self, record):
        record.created, record.msecs = 1_796_000_000.5, 500.0
        return True


def test_lines_of_one_millisecond_come_back_in_the_order_logged_from_both_backends(
        shipping, fake):
    logger, handler = shipping()
    logger.addFilter(OneMillisecond())
    with context.bound(job_id="job-tie", service="jobs"):
        for n in range(6):
            logger.info("tied line %d", n)
    wait_until(lambda: len(messages(fake)) == 6, timeout=15, message="6 lines in Elasticsearch")
    assert len({doc["@timestamp"] for doc in fake.sources(DATA_STREAM)}) == 1

    query = LogQuery.from_args({"job_id": "job-tie"})
    local_settings = LogSettings.from_section({"dir": handler.settings.dir})
    newest_first = [f"tied line {n}" for n in reversed(range(6))]
    for settings in (handler.settings, local_settings):
        assert [d["message"] for d in search(settings, query)["items"]] == newest_first


def test_an_outage_of_10_seconds_loses_nothing_and_replays_in_order(shipping, fake, tmp_path):
    logger, handler = shipping(buffer_size=40, batch_size=25)
    for n in range(50):
        logger.info("line %d", n)
    wait_until(lambda: len(messages(fake)) == 50, timeout=15, message="the first 50 lines")

    fake.stop()
    outage_ends = time.monotonic() + 10
    n = 50
    while time.monotonic() < outage_ends:  # a steady trickle for 10 s
        logger.info("line %d", n)
        n += 1
        time.sleep(0.01)
    spool = handler.settings.spool_dir
    spooled = sum(len(files) for _, _, files in os.walk(spool))
    assert spooled > 0, "the outage should have spilled lines to the disk spool"
    assert len(messages(fake)) == 50
    fake.start()

    wait_until(lambda: len(messages(fake)) >= n, timeout=60,
               message=f"{n} lines after the outage")
    assert messages(fake) == [f"line {i}" for i in range(n)]  # each once, in order
    assert handler.shipper.flush(timeout=10)
    assert not [f for _, _, files in os.walk(spool) for f in files if f.endswith(".seg")]


def test_429s_and_partial_bulk_failures_are_retried(shipping, fake):
    logger, handler = shipping(batch_size=20)
    fake.fail_requests.extend([429, 429, 503])     # whole requests
    fake.fail_items.extend([429] * 7 + [503] * 3)  # single items of the next bulks
    fake.poison = "POISON"                          # a mapping error: never succeeds
    for n in range(60):
        logger.info("POISON line %d" if n == 30 else "line %d", n)
    wait_until(lambda: len(messages(fake)) == 59, timeout=30, message="59 lines")
    assert handler.shipper.flush(timeout=10)

    assert sorted(messages(fake), key=lambda m: int(m.split()[1])) == [
        f"line {n}" for n in range(60) if n != 30]
    statuses = [status for _, path, status in fake.requests if "_bulk" in path]
    assert statuses[:3] == [429, 429, 503]
    assert handler.shipper.stats["retried"] >= 10
    # The line Elasticsearch refuses for good is kept, not dropped.
    rejected = os.path.join(handler.shipper._spool.path, "rejected.ndjson")
    (kept,) = [json.loads(line) for line in open(rejected)]
    assert json.loads(kept["line"])["message"] == "POISON line 30"
    assert kept["error"]["type"] == "document_parsing_exception"


def test_logging_does_not_wait_for_a_hanging_or_absent_elasticsearch(shipping, fake):
    logger, handler = shipping(buffer_size=200, batch_size=50, request_timeout_s=30)

    def time_lines(count=2000):
        durations = []
        for n in range(count):
            started = time.perf_counter()
            logger.info("timed line %d", n)
            durations.append(time.perf_counter() - started)
        durations.sort()
        return durations[len(durations) // 2], durations[-1], sum(durations)

    base_p50, _, _ = time_lines()
    assert handler.shipper.flush(timeout=15)

    fake.delay_s = 20  # accepts, then hangs: the shipper sits in a request
    logger.info("the line that makes it wait")
    wait_until(lambda: fake.in_flight > 0, timeout=10, message="a request hanging")
    hang_p50, hang_max, hang_total = time_lines()
    fake.stop()        # then: connection refused
    down_p50, down_max, down_total = time_lines()
    print(f"per line: up p50 {base_p50 * 1e6:.0f} us; hanging p50 {hang_p50 * 1e6:.0f} us, "
          f"max {hang_max * 1e3:.1f} ms; down p50 {down_p50 * 1e6:.0f} us, "
          f"max {down_max * 1e3:.1f} ms")
    # Generous bounds: one request to Elasticsearch would take 20 s (hanging).
    for p50, worst, total in ((hang_p50, hang_max, hang_total), (down_p50, down_max, down_total)):
        assert p50 < base_p50 * 5 + 0.0005
        assert worst < 0.5
        assert total < 5


def test_lines_spooled_by_a_process_that_died_are_shipped_by_the_next(shipping, fake, tmp_path):
    from infra.logs.spool import Spool

    spool_root = str(tmp_path / "log" / "spool")
    dead = Spool.create(spool_root, "converter")
    dead.write([(n, json.dumps({"@timestamp": "2026-01-01T00:00:00.000Z", "log.level": "info",
                                "message": f"left behind {n}"})) for n in range(1, 6)])
    dead.close()  # its process is gone; the lock with it

    logger, handler = shipping()
    logger.info("the next process")
    wait_until(lambda: len(messages(fake)) == 6, timeout=15, message="6 lines")
    assert messages(fake)[:5] == [f"left behind {n}" for n in range(1, 6)]
    assert handler.shipper.flush(timeout=10)
    assert not os.path.exists(dead.path)
