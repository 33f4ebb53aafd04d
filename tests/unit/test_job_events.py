"""JobEvents' waiting logic without a broker: the listener's state is set by
hand, documents are offered as its thread would, `fetch` stands in for the
get_job RPC (and counts its calls)."""
import json
import threading

from flask import Flask

from gateway.events import CHECK_S, MAX_AGE, TOKEN_EXPIRED, TOKEN_REVOKED, JobEvents
from tests.helpers import wait_until


def events(connected=True, heartbeat_s=10):
    app = Flask(__name__)
    app.config.update(AMQP_URI="memory://", SSE_HEARTBEAT_S=heartbeat_s)
    job_events = JobEvents(app)
    if connected:
        job_events.listener.connected.set()
    return job_events


def doc(seq, status):
    return {"id": "j", "seq": seq, "status": status}


class Fetch:
    def __init__(self, *documents):
        self.documents, self.calls = list(documents), 0

    def __call__(self):
        self.calls += 1
        return self.documents[min(self.calls, len(self.documents)) - 1]


def ids(chunks):
    return [int(line[4:]) for chunk in chunks for line in chunk.splitlines()
            if line.startswith("id: ")]


def test_a_final_job_is_sent_once_unless_already_seen():
    job_events = events()
    for last_seen, expected in ((-1, [4]), (3, [4]), (4, []), (99, [4])):
        with job_events.registry.watch("j") as waiter:
            waiter.offer(4, doc(4, "succeeded"))
            chunks = list(job_events.stream(waiter, Fetch(), last_seen))
        assert chunks[0] == "retry: 2000\n\n"
        assert ids(chunks) == expected, last_seen


def test_events_are_streamed_in_order_until_final_without_rpc():
    job_events, fetch = events(), Fetch()
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(
            job_events.stream(waiter, fetch, -1)))
        reader.start()
        wait_until(lambda: ids(chunks) == [1], timeout=5)
        job_events.registry.publish("j", 3, doc(3, "processing"))
        job_events.registry.publish("j", 2, doc(2, "queued"))  # late: never sent
        wait_until(lambda: ids(chunks) == [1, 3], timeout=5)
        job_events.registry.publish("j", 5, doc(5, "succeeded"))
        reader.join(5)
    assert not reader.is_alive() and ids(chunks) == [1, 3, 5] and fetch.calls == 0


def test_a_quiet_stream_gets_heartbeats():
    job_events = events(heartbeat_s=0.05)
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        stream = job_events.stream(waiter, Fetch(), -1)
        assert [next(stream) for _ in range(4)][2:] == [": keep-alive\n\n"] * 2


def test_a_resync_reads_the_job_once():
    job_events, fetch = events(), Fetch(doc(6, "succeeded"))
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        job_events.registry.resync_all()  # the listener reconnected
        assert job_events.next_document(waiter, 1, fetch, timeout=5) == (6, doc(6, "succeeded"))
    assert fetch.calls == 1


def test_without_the_listener_waiters_read_the_job_themselves():
    job_events = events(connected=False)
    fetch = Fetch(doc(1, "queued"), doc(2, "succeeded"))
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        final = job_events.wait_final(waiter, fetch, timeout=10)
    assert final == doc(2, "succeeded") and fetch.calls == 2


def test_wait_final_gives_the_newest_document_at_its_deadline():
    job_events = events()
    with job_events.registry.watch("j") as waiter:
        waiter.offer(2, doc(2, "processing"))
        assert job_events.wait_final(waiter, Fetch(), timeout=0.05) == doc(2, "processing")


def test_draining_ends_open_streams():
    job_events = events()
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(
            job_events.stream(waiter, Fetch(), -1)))
        reader.start()
        wait_until(lambda: ids(chunks) == [1], timeout=5)
        job_events.drain()
        reader.join(5)
    assert not reader.is_alive() and ids(chunks) == [1]


def ended(chunks):
    """The `end` event's reason and id, if the stream ended with one."""
    fields = dict(line.split(": ", 1) for line in chunks[-1].splitlines() if ": " in line)
    return fields.get("event") == "end" and (json.loads(fields["data"])["reason"],
                                            int(fields.get("id", -1)))


def test_a_stream_ends_when_its_token_no_longer_holds():
    job_events = events(heartbeat_s=60)
    why = []  # what why_end() answers: nothing until the "logout"
    with job_events.registry.watch("j") as waiter:
        waiter.offer(3, doc(3, "queued"))
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(job_events.stream(
            waiter, Fetch(), -1, why_end=lambda: why[0] if why else None)))
        reader.start()
        wait_until(lambda: ids(chunks) == [3], timeout=5)
        why.append(TOKEN_REVOKED)
        reader.join(CHECK_S + 5)  # found within a check, not at a heartbeat (60 s)
    assert not reader.is_alive()
    assert ended(chunks) == (TOKEN_REVOKED, 3)


def test_a_stream_ends_after_its_maximum_life():
    job_events = events(heartbeat_s=0.05)
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        chunks = list(job_events.stream(waiter, Fetch(), -1, max_s=0.3))
    assert ids(chunks)[0] == 1 and ": keep-alive\n\n" in chunks
    assert ended(chunks) == (MAX_AGE, 1)


def test_no_event_is_sent_once_the_token_expired():
    job_events = events()
    with job_events.registry.watch("j") as waiter:
        waiter.offer(1, doc(1, "queued"))
        chunks = list(job_events.stream(waiter, Fetch(), -1, why_end=lambda: TOKEN_EXPIRED))
    assert ids(chunks) == [] and ended(chunks) == (TOKEN_EXPIRED, -1)
