"""The gateway's waiter registry and SSE framing: pure, threads only."""
import threading

import pytest

from gateway import sse
from gateway.waiters import RESYNC, WaiterRegistry
from tests.helpers import wait_until


def doc(status="queued", seq=1):
    return {"id": "j", "status": status, "seq": seq}


def test_every_waiter_of_a_job_is_woken_and_no_other():
    registry = WaiterRegistry()
    woken = []

    def wait(job_id):
        with registry.watch(job_id) as waiter:
            woken.append((job_id, waiter.next(0, timeout=10)))

    threads = [threading.Thread(target=wait, args=(job,)) for job in ("a", "a", "b")]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(registry) == 3, timeout=5)
    assert registry.publish("a", 1, doc()) == 2
    wait_until(lambda: len(woken) == 2, timeout=5)
    assert woken == [("a", (1, doc())), ("a", (1, doc()))]
    registry.publish("b", 1, doc("succeeded"))
    for thread in threads:
        thread.join(5)
    assert len(registry) == 0  # each left when done


def test_an_older_document_never_replaces_a_newer_one():
    registry = WaiterRegistry()
    with registry.watch("a") as waiter:
        registry.publish("a", 3, doc("processing", 3))
        assert registry.publish("a", 2, doc("queued", 2)) == 0
        assert waiter.next(0, timeout=0) == (3, doc("processing", 3))
        assert waiter.next(3, timeout=0) is None  # nothing newer than 3


def test_resync_wakes_every_waiter_once():
    registry = WaiterRegistry()
    with registry.watch("a") as first, registry.watch("b") as second:
        registry.resync_all()
        assert first.next(0, timeout=0) is RESYNC and second.next(0, timeout=0) is RESYNC
        assert first.next(0, timeout=0) is None


def test_next_waits_until_its_timeout():
    registry = WaiterRegistry()
    with registry.watch("a") as waiter:
        assert waiter.next(0, timeout=0.05) is None


def test_event_frame():
    assert sse.event_frame(7, {"id": "j", "status": "queued"}) == (
        'id: 7\nevent: job\ndata: {"id":"j","status":"queued"}\n\n')


def test_comment_and_retry():
    assert sse.comment() == ": keep-alive\n\n"
    assert sse.retry(2000) == "retry: 2000\n\n"


@pytest.mark.parametrize("raw, seq", [
    ("7", 7), (" 12 ", 12), ("0", 0), (None, -1), ("", -1), ("x", -1), ("-3", -1), ("1.5", -1)])
def test_last_event_id(raw, seq):
    assert sse.last_event_id(raw) == seq
