"""The pure parts of the logs: context, query, local store, spool."""
import json
import logging
import os
import time

import eventlet
import pytest

from convertix.errors import ConvertixError
from infra.logs import context
from infra.logs.ecs import EcsFormatter, get_field, guess_service, process_service
from infra.logs.search import LogQuery
from infra.logs.spool import Spool
from infra.logs.store import LocalStore, log_files, search
from tests.fake_elasticsearch import FakeElasticsearch


def test_trace_id_comes_from_traceparent_then_x_request_id_else_is_new():
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.trace_id_from_headers(
        {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}) == trace
    assert context.trace_id_from_headers({"X-Request-ID": "req-42"}) == "req-42"
    for headers in ({}, {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"},
                    {"traceparent": "garbage"}, {"X-Request-ID": "bad id with spaces"},
                    {"X-Request-ID": "x" * 200}):
        made = context.trace_id_from_headers(headers)
        assert len(made) == 32 and int(made, 16) and made != "0" * 32


def test_context_binds_resets_and_travels_as_nameko_context_data():
    assert context.current() == {}
    with context.bound(trace_id="t", job_id="j"):
        with context.bound(task_index=0):
            assert context.current() == {"trace_id": "t", "job_id": "j", "task_index": 0}
            data = context.to_nameko()
        assert context.current() == {"trace_id": "t", "job_id": "j"}
    assert context.current() == {}
    assert data == {"convertix.trace_id": "t", "convertix.job_id": "j",
                    "convertix.task_index": 0}
    assert context.from_nameko({**data, "call_id_stack": ["x"]}) == {
        "trace_id": "t", "job_id": "j", "task_index": 0}
    with pytest.raises(TypeError):
        context.bind(jobid="typo")


def test_each_greenlet_has_its_own_context():
    """Nameko's workers are greenlets: one worker's job must not leak into another's."""
    seen = {}

    def worker(name):
        context.bind(job_id=name)
        eventlet.sleep(0.01)  # let the others run and bind theirs
        seen[name] = context.current().get("job_id")

    pool = eventlet.GreenPool()
    for name in ("a", "b", "c"):
        pool.spawn(worker, name)
    pool.waitall()
    assert seen == {"a": "a", "b": "b", "c": "c"}
    assert context.current() == {}


def test_formatter_writes_ecs_with_the_context():
    record = logging.LogRecord("convertix.x", logging.WARNING, __file__, 1, "hello %s",
                               ("there",), None)
    with context.bound(trace_id="t1", job_id="j1", task_index=2, user_id="u1",
                       service="converter"):
        doc = json.loads(EcsFormatter().format(record))
    assert doc["log.level"] == "warning" and doc["message"] == "hello there"
    assert doc["service"]["name"] == "converter"
    assert doc["trace"] == {"id": "t1"} and doc["user"] == {"id": "u1"}
    assert doc["convertix"] == {"job_id": "j1", "task_index": 2}
    assert "original" not in doc["log"]
    assert get_field(doc, "log.logger") == "convertix.x"


def test_a_record_is_made_into_a_line_once_for_both_handlers():
    made = []

    class Counting(EcsFormatter):
        def format_to_ecs(self, record):
            made.append(record)
            return super().format_to_ecs(record)

    console, store = Counting(), Counting(service=process_service())
    other = Counting(exclude_fields=["log.original", "process"])
    logger = logging.getLogger("convertix.test")
    first = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "one %s", ("a",), None)
    line = console.format(first)
    assert store.format(first) == line and len(made) == 1     # the console's line, taken
    assert other.format(first) != line and len(made) == 2     # other options: its own line
    assert json.loads(line)["message"] == "one a"
    assert not [key for key in json.loads(line) if "ecs_line" in key or key.startswith("_")]
    second = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "two", (), None)
    assert json.loads(store.format(second))["message"] == "two" and len(made) == 3
    assert json.loads(console.format(second))["message"] == "two" and len(made) == 3


def test_service_names_guessed_from_the_command_line():
    assert guess_service(["/v/bin/nameko", "run", "--config", "config.yaml",
                          "services.accounts.service", "services.jobs.service"]) == "accounts+jobs"
    assert guess_service(["/v/bin/nameko", "run", "services.converter.service"]) == "converter"
    assert guess_service(["/v/bin/gunicorn", "-c", "x", "gateway.wsgi:app"]) == "gateway"
    assert guess_service(["/v/bin/nameko", "run", "--config", "config.yaml",
                          "scaler.service"]) == "scaler"
    assert guess_service(["/w/scaler/__main__.py", "--once"]) == "scaler"


def test_log_query_is_validated():
    query = LogQuery.from_args({"q": " corrupt ", "level": "ERROR", "limit": "5"})
    assert (query.q, query.level, query.limit) == ("corrupt", "error", 5)
    for args in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"q": "a" * 300}):
        with pytest.raises(ConvertixError) as raised:
            LogQuery.from_args(args)
        assert raised.value.code == "BAD_REQUEST"


def doc(message, level="info", service="jobs", job_id=None, ts="2026-01-01T00:00:00.000Z",
        sequence=None):
    line = {"@timestamp": ts, "log.level": level, "message": message,
            "service": {"name": service}}
    if sequence is not None:  # as the formatter numbers a process's lines
        line["event"] = {"sequence": sequence}
    if job_id:
        line["convertix"] = {"job_id": job_id}
    return json.dumps(line)


def test_local_store_search_filters_and_sorts_newest_first(tmp_path):
    store = LocalStore(str(tmp_path), "jobs")
    store.write(doc("job j1 queued", job_id="j1", ts="2026-01-01T00:00:01.000Z"))
    store.write(doc("task failed: CORRUPT_IMAGE", level="error", job_id="j1",
                    ts="2026-01-01T00:00:02.000Z"))
    store.write(doc("job j2 queued", job_id="j2", ts="2026-01-01T00:00:03.000Z"))
    LocalStore(str(tmp_path), "converter").write(
        doc("converting j1", service="converter", job_id="j1", ts="2026-01-01T00:00:01.500Z"))
    with open(store.path, "a") as handle:
        handle.write('{"torn": ')  # a line being written by another process
    store.close()

    def messages(**args):
        return [d["message"] for d in search(str(tmp_path), LogQuery.from_args(args))]

    assert messages(job_id="j1") == ["task failed: CORRUPT_IMAGE", "converting j1",
                                      "job j1 queued"]
    assert messages(job_id="j1", service="converter") == ["converting j1"]
    assert messages(level="ERROR") == ["task failed: CORRUPT_IMAGE"]
    assert messages(q="corrupt_image TASK") == ["task failed: CORRUPT_IMAGE"]
    assert messages(q="queued", limit="1") == ["job j2 queued"]
    assert messages(job_id="nope") == []


def line(message, sequence=None, pid=7, host="node-1", ts="2026-01-01T00:00:00.000Z"):
    doc = {"@timestamp": ts, "log.level": "info", "message": message,
           "service": {"name": "jobs"}, "process": {"pid": pid}, "host": {"name": host}}
    if sequence is not None:
        doc["event"] = {"sequence": sequence}
    return doc


def test_both_backends_break_ties_alike_whatever_the_order_of_files_and_arrival(tmp_path):
    newest_first = [
        line("a later millisecond", 1, ts="2026-01-01T00:00:00.001Z"),
        line("seq 9", 9), line("seq 3 of pid 8", 3, pid=8),
        line("seq 3 on node-2", 3, host="node-2"), line("seq 3 on node-1", 3),
        line("seq 2", 2), line("from before event.sequence", None)]
    # Files against the sort: the older lines in the newer file, and each
    # file's lines written in reverse.
    newer, older = newest_first[4:], newest_first[:4]
    now = time.time()  # (within retention: a store prunes older files of others)
    for name, docs, mtime in (("converter", older, now - 60), ("jobs", newer, now - 30)):
        store = LocalStore(str(tmp_path), name)
        for doc in reversed(docs):
            store.write(json.dumps(doc))
        store.close()
        os.utime(store.path, (mtime, mtime))
    fake = FakeElasticsearch()
    fake.docs = [("logs-convertix-test", str(n), doc)  # arrived oldest first
                 for n, doc in enumerate(reversed(newest_first))]
    query = LogQuery.from_args({})

    from_local = search(str(tmp_path), query)
    from_es = [hit["_source"] for hit in
               fake.search("logs-convertix-test", query.to_elasticsearch())["hits"]["hits"]]
    expected = [doc["message"] for doc in newest_first]
    assert [doc["message"] for doc in from_local] == expected
    assert [doc["message"] for doc in from_es] == expected


def test_local_store_rotates_and_stays_bounded(tmp_path):
    old = tmp_path / "gone.1.ndjson"
    old.write_text(doc("from a process long gone") + "\n")
    os.utime(old, (0, 0))  # far past retention
    store = LocalStore(str(tmp_path), "gateway", max_file_bytes=2000, max_total_bytes=10**6)
    for n in range(100):
        store.write(doc(f"line {n}", sequence=n + 1))  # one @timestamp: ties
    store.close()
    names = sorted(os.path.basename(p) for p in log_files(str(tmp_path)))
    assert names == [f"gateway.{os.getpid()}.ndjson", f"gateway.{os.getpid()}.ndjson.1"]
    assert all(os.path.getsize(p) < 2000 + 200 for p in log_files(str(tmp_path)))
    found = [d["message"] for d in search(str(tmp_path), LogQuery.from_args({"q": "line"}))]
    assert found[0] == "line 99" and len(found) < 100  # the oldest rotated away


def test_a_dead_processs_spool_is_adopted_in_order(tmp_path):
    dead = Spool.create(str(tmp_path), "converter")
    dead.write([(3, "c"), (4, "d")])
    dead.write([(1, "a"), (2, "b")])  # an earlier batch that failed later
    mine = Spool.create(str(tmp_path), "converter")
    assert Spool.adopt_orphans(str(tmp_path), exclude={mine.path}) == []  # still alive
    dead.close()  # the process ends: its lock goes with it
    (adopted,) = Spool.adopt_orphans(str(tmp_path), exclude={mine.path})
    assert adopted.path == dead.path
    replayed = [entry for segment in adopted.segments() for entry in Spool.read(segment)]
    assert replayed == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    for segment in adopted.segments():
        adopted.replace(segment, [])
    assert adopted.remove_if_empty() and not os.path.exists(dead.path)
