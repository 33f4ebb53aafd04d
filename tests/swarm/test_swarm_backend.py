"""The swarm backend against a real Docker engine in Swarm mode: converters
as a Swarm service, replicas read back from Docker, scaled through the SDK."""
import io
import time

import pytest
from PIL import Image

from convertix.contract import JOB_FINAL
from scaler.backends import backend_class
from scaler.backends.swarm import SwarmBackend
from tests.helpers import wait_until
from tests.swarm.conftest import (
    STOP_GRACE_S,
    EventTap,
    SwarmStack,
    converters_consume,
    wait_running,
)


@pytest.fixture(scope="module")
def swarm_stack(tmp_path_factory, docker_client):
    stack = SwarmStack(tmp_path_factory.mktemp("swarm"), docker_client).start_services()
    yield stack
    stack.stop()


@pytest.fixture
def stack(swarm_stack):
    """The module's stack; the converter services a test creates go with it."""
    yield swarm_stack
    swarm_stack.remove_services()


def small_png(seed):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (seed % 256, 80, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def spec_without_replicas(client, name):
    spec = client.api.inspect_service(name, insert_defaults=False)["Spec"]
    return {k: v for k, v in spec.items() if k != "Mode"}


def test_from_config_names_the_service_and_the_engine(docker_client):
    settings = {"backend": "swarm",
                "swarm": {"service": "some_converter", "docker_host": "unix:///var/run/docker.sock"}}
    backend = backend_class("swarm").from_config({}, settings)
    try:
        assert isinstance(backend, SwarmBackend) and backend.service_name == "some_converter"
        assert backend.client.ping()
    finally:
        backend.close()


def test_scale_up_keeps_the_running_tasks_and_reads_replicas_back(stack, docker_client):
    name = stack.create_converter_service(replicas=1)
    backend = SwarmBackend(name, docker_client)
    wait_running(backend, 1, stack=stack)
    before = backend.running_task_ids()
    spec_before = spec_without_replicas(docker_client, name)

    backend.scale(3)
    wait_running(backend, 3, stack=stack)
    after = backend.running_task_ids()
    print(f"\nrunning task ids before scale-up: {before}\nafter scale-up to 3: {after}")
    # the task that ran before still runs: the scale did not replace it
    assert set(before) <= set(after) and len(after) == 3
    # nothing in the spec changed but the replica count
    assert spec_without_replicas(docker_client, name) == spec_before
    assert docker_client.api.inspect_service(name)["Spec"]["Mode"] == {
        "Replicated": {"Replicas": 3}}

    described = backend.describe()
    assert described["desired"] == 3 and described["running"] == 3
    assert sorted(r["id"] for r in described["replicas"] if r["state"] == "running") == after
    assert all(r["node"] for r in described["replicas"])

    # asking for what runs changes nothing (the scaler asks on every poll)
    version = docker_client.api.inspect_service(name)["Version"]["Index"]
    backend.scale(3)
    assert docker_client.api.inspect_service(name)["Version"]["Index"] == version

    # the replicas work: a job converts on them
    converters_consume(stack, 3)
    job_id = stack.create_job([small_png(n) for n in range(6)], {"format": "webp"})
    doc = wait_until(lambda: _final(stack.job(job_id)), timeout=60, interval=0.3,
                     message="the job on the swarm converters")
    assert doc["status"] == "succeeded"
    assert backend.running_task_ids() == after


def test_scale_down_is_graceful_and_loses_nothing(stack, docker_client):
    """Two replicas each hold a 6 s conversion; the scale-down to one sends
    SIGTERM to one of them, which finishes its task and exits 0 well before
    the grace period. Every task is started and succeeds exactly once."""
    name = stack.create_converter_service(
        replicas=2, module="tests.swarm.slow_converter:SlowConverter", CONVERT_DELAY_S=6)
    backend = SwarmBackend(name, docker_client)
    wait_running(backend, 2, stack=stack)
    converters_consume(stack, 2)
    two = backend.running_task_ids()

    tap = EventTap(stack.env["AMQP_URI"])
    job_id = stack.create_job([small_png(n) for n in range(4)], {"format": "png"})
    # both replicas hold a task (one worker each)
    doc = wait_until(lambda: (d := stack.job(job_id)) and _count(d, "processing") == 2 and d,
                     timeout=30, interval=0.2, message="two tasks in flight")
    in_flight = [t["index"] for t in doc["tasks"] if t["status"] == "processing"]

    containers = {t["ID"]: t["Status"]["ContainerStatus"]["ContainerID"]
                  for t in docker_client.api.tasks(filters={"service": name})
                  if t["ID"] in two}
    since = int(time.time()) - 1
    backend.scale(1)
    # the replica told to stop no longer counts at once
    wait_until(lambda: backend.running() == 1, timeout=10, interval=0.2,
               message="one running replica")
    (kept,) = backend.running_task_ids()
    (stopped,) = set(two) - {kept}

    # Swarm deletes a removed slot's task (and container) soon after it
    # stops, so the exit is read from the engine's events.
    def died():
        events = docker_client.events(
            since=since, until=int(time.time()) + 1, decode=True,
            filters={"type": "container", "event": "die", "container": containers[stopped]})
        return list(events)
    (event,) = wait_until(died, timeout=STOP_GRACE_S, interval=0.5,
                          message="the stopped replica to exit")
    # exit 0: it drained and left on its own, before the grace period ran out
    assert event["Actor"]["Attributes"]["exitCode"] == "0", (event, stack.service_logs(name))
    assert event["time"] - since < STOP_GRACE_S

    doc = wait_until(lambda: _final(stack.job(job_id)), timeout=60, interval=0.3,
                     message="the job")
    assert doc["status"] == "succeeded"
    # the conversions in flight were finished, not interrupted and redelivered
    assert [doc["tasks"][i]["attempts"] for i in in_flight] == [1, 1]
    # every task was started and succeeded exactly once. (A task not yet
    # started may show attempts 2: a draining Nameko consumer can be handed
    # a message just before its cancel and returns it unstarted.)
    counts = tap.counts()
    tap.close()
    for index in range(4):
        assert counts[("task_started", job_id, index)] == 1, counts
        assert counts[("task_succeeded", job_id, index)] == 1, counts
    assert backend.running_task_ids() == [kept]


def _final(doc):
    return doc if doc["status"] in JOB_FINAL else None


def _count(doc, status):
    return sum(1 for task in doc["tasks"] if task["status"] == status)
