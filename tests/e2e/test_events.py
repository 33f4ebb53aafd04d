"""Live job events through the real system: gunicorn's gevent workers, the
jobs service publishing job_changed on RabbitMQ, converters reporting stages.
The event stream (GET /jobs/<id>/events), and /convert woken by events."""
import glob
import io
import json
import os
import threading
import time

import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from convertix.contract import STAGES
from tests.e2e.conftest import Api
from tests.helpers import wait_until


def png(size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def noisy_png(size=(1200, 900)):
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def open_stream(api, job_id, last_event_id=None, **params):
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    return api.session.get(f"{api.base}/jobs/{job_id}/events", headers=headers, params=params,
                           stream=True, timeout=60, verify=api.verify)


def events(answer):
    """The stream's events as {"id", "event", "data"}, until the server ends it."""
    current = {}
    for line in answer.iter_lines(chunk_size=1, decode_unicode=True):
        if line == "":
            if "data" in current:
                yield {"id": int(current["id"]), "event": current["event"],
                       "data": json.loads(current["data"])}
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            current[field] = value[1:] if value.startswith(" ") else value


def collect(answer, into):
    for event in events(answer):
        into.append(event)


def stopped_converter(stack):
    stack.stop_process("converter")
    return stack


def restart_converter(stack):
    stack.start_converter()
    wait_until(stack.converter_ready, timeout=90, interval=0.5, message="the converter")


def test_a_stream_sees_queued_processing_succeeded_in_order(stack):
    api = Api(stack, "stream-order")
    stopped_converter(stack)
    try:
        ahead = api.upload([("a.png", png()), ("b.png", png())], {"format": "webp"}).json()
        job = api.upload([("c.png", noisy_png())], {"format": "webp", "width": 600}).json()
        answer = open_stream(api, job["id"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        seen = []
        reader = threading.Thread(target=collect, args=(answer, seen))
        reader.start()
        wait_until(lambda: seen, timeout=10, message="the first event at once")
        first = seen[0]
        assert first["event"] == "job" and first["data"]["status"] == "queued"
        assert first["data"]["queue_position"] == 2  # the two tasks of the job ahead
        # a second client reads the first event and goes away: it reconnects later
        early = open_stream(api, job["id"])
        early_id = next(events(early))["id"]
        early.close()
    finally:
        restart_converter(stack)
    reader.join(60)
    assert not reader.is_alive(), "the stream did not end after the final status"
    statuses = [event["data"]["status"] for event in seen]
    ids = [event["id"] for event in seen]
    assert ids == sorted(set(ids)), ids  # strictly growing
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert statuses.index("processing") < len(statuses) - 1
    assert [event["data"]["seq"] for event in seen] == ids
    stages = [event["data"]["tasks"][0]["stage"] for event in seen
              if event["data"]["status"] == "processing"]
    assert stages and stages == sorted(stages, key=STAGES.index), stages
    assert seen[-1]["data"] == api.get(f"/jobs/{job['id']}").json()
    api.wait_final(ahead["id"])

    # Reconnect with the id the early client saw: what it missed, ending at the final status.
    resumed = list(events(open_stream(api, job["id"], last_event_id=early_id)))
    assert resumed and all(event["id"] > early_id for event in resumed)
    assert resumed[-1]["data"]["status"] == "succeeded"


def test_a_final_job_gives_its_document_once_and_ends(stack):
    api = Api(stack, "stream-final")
    job = api.upload([("a.png", png())], {"format": "png"}).json()
    final = api.wait_final(job["id"])
    once = list(events(open_stream(api, job["id"])))
    assert [event["data"] for event in once] == [final]
    assert once[0]["id"] == final["seq"]
    # seen to the end already: nothing more, and the stream ends
    assert list(events(open_stream(api, job["id"], last_event_id=final["seq"]))) == []
    # an id never given (larger than any): the current document again
    assert [e["data"] for e in events(open_stream(api, job["id"], last_event_id=10**6))] == [final]
    # EventSource cannot send headers: ?access_token= is accepted on this path
    token = api.session.headers["Authorization"].split()[1]
    plain = requests.get(f"{api.base}/jobs/{job['id']}/events", params={"access_token": token},
                         stream=True, timeout=30, verify=api.verify)
    assert plain.status_code == 200, plain.text
    assert [event["data"]["status"] for event in events(plain)] == [final["status"]]


def test_another_users_job_is_404(stack):
    owner, other = Api(stack, "stream-owner"), Api(stack, "stream-other")
    job = owner.upload([("a.png", png())], {"format": "png"}).json()
    answer = open_stream(other, job["id"])
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert open_stream(other, "0" * 32).status_code == 404
    anonymous = requests.get(f"{owner.base}/jobs/{job['id']}/events", timeout=30,
                             verify=owner.verify)
    assert anonymous.status_code == 401


def test_fifty_concurrent_streams_all_see_the_end(stack):
    api = Api(stack, "stream-many")
    stopped_converter(stack)
    try:
        jobs = [api.upload([(f"{n}.png", png())], {"format": "jpeg"}).json() for n in range(5)]
        streams = [open_stream(api, jobs[n % 5]["id"]) for n in range(50)]
        assert {answer.status_code for answer in streams} == {200}
        seen = [[] for _ in streams]
        readers = [threading.Thread(target=collect, args=(answer, into))
                   for answer, into in zip(streams, seen)]
        for reader in readers:
            reader.start()
        wait_until(lambda: all(seen), timeout=30, message="every stream's first event")
        assert {into[0]["data"]["status"] for into in seen} == {"queued"}
    finally:
        restart_converter(stack)
    for reader in readers:
        reader.join(90)
    assert not any(reader.is_alive() for reader in readers)
    assert {into[-1]["data"]["status"] for into in seen} == {"succeeded"}
    for into in seen:
        assert [event["id"] for event in into] == sorted({event["id"] for event in into})


def jobs_rpc_calls(stack, method):
    """convertix_service_calls_total of the jobs service's `method`, from its /metrics."""
    total = 0
    for path in glob.glob(os.path.join(stack.env["METRICS_TARGETS_DIR"], "*.json")):
        with open(path) as handle:
            for group in json.load(handle):
                for target in group["targets"]:
                    try:
                        text = requests.get(f"http://{target}/metrics", timeout=10).text
                    except requests.ConnectionError:
                        continue  # a process that has just gone
                    for family in text_string_to_metric_families(text):
                        for sample in family.samples:
                            if (sample.name == "convertix_service_calls_total"
                                    and sample.labels.get("service") == "jobs"
                                    and sample.labels.get("entrypoint") == method):
                                total += sample.value
    return total


def test_convert_is_woken_by_the_event_not_by_polling(stack):
    api = Api(stack, "convert-events")
    assert api.upload([("w.png", png())], {"format": "png"}, path="/convert").status_code == 200
    before = jobs_rpc_calls(stack, "get_job")
    for n in range(5):
        answer = api.upload([(f"{n}.png", noisy_png((800, 600)))], {"format": "webp"},
                            path="/convert")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "image/webp"
        assert answer.headers["X-Convertix-Job"]
    # the services' metrics are counted after the reply: wait for them to settle
    calls = wait_until(lambda: (lambda n: n if n == jobs_rpc_calls(stack, "get_job") else None)(
        jobs_rpc_calls(stack, "get_job")), timeout=10) - before
    assert calls <= 2 * 5, f"{calls} get_job calls for 5 /convert"


def test_stopping_the_gateway_ends_open_streams_at_once(tmp_path_factory):
    from tests.e2e.conftest import Stack
    stack = Stack(tmp_path_factory.mktemp("drain")).start()
    try:
        api = Api(stack, "stream-drain")
        stack.stop_process("converter")
        job = api.upload([("a.png", png())], {"format": "png"}).json()
        answer = open_stream(api, job["id"])
        first = next(events(answer))
        assert first["data"]["status"] == "queued"
        started = time.monotonic()
        stack.stop_process("gateway", timeout=20)  # graceful_timeout is 30 s
        assert time.monotonic() - started < 10
        assert list(events(answer)) == []  # the stream ended; a client reconnects
    finally:
        stack.stop()
