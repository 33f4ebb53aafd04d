"""The local backend against real RabbitMQ: replicas follow a burst of 300
tasks up to max and back to min, and a scale-down in the middle of work
loses nothing and requeues nothing."""
import requests

from convertix.contract import CONVERT_QUEUE
from infra.config.schema import SCALER_KEY
from infra.queue_stats import vhost_of
from scaler.backends.local import LocalBackend
from scaler.service import ScalerService
from services.jobs.service import JobsService
from tests.helpers import wait_until
from tests.integration.conftest import Client, noisy_jpeg
from tests.scaling.conftest import MANAGEMENT_URL


def submit(client, count, image, per_job=50, **options):
    ids = []
    for first in range(0, count, per_job):
        files = [(f"{i}.jpg", image) for i in range(first, min(count, first + per_job))]
        ids.append(client.submit(files, **{"format": "webp", "width": 400, **options})["id"])
    return ids


def assert_all_succeeded_once(client, ids, count, timeout):
    docs = [client.wait_final(job_id, timeout=timeout) for job_id in ids]
    tasks = [task for doc in docs for task in doc["tasks"]]
    assert len(tasks) == count
    assert [t["status"] for t in tasks] == ["succeeded"] * count
    # attempts is RabbitMQ's delivery count: 1 means delivered (and so
    # converted) exactly once, never requeued
    assert {t["attempts"] for t in tasks} == {1}


def redeliveries(config):
    vhost = requests.utils.quote(vhost_of(config["AMQP_URI"]), safe="")
    stats = requests.get(f"{MANAGEMENT_URL}/api/queues/{vhost}/{CONVERT_QUEUE}",
                         timeout=10).json().get("message_stats", {})
    return stats.get("redeliver", 0)


def test_burst_takes_replicas_from_min_to_max_and_back(runner_factory, scaling_config, queue):
    runner = runner_factory(scaling_config, JobsService, ScalerService)
    runner.start()
    client = Client(scaling_config)
    status = lambda: client.rpc("scaler", "status")  # noqa: E731
    wait_until(lambda: status().get("running") == 1 and queue().consumers == 1,
               timeout=90, interval=0.5, message="the min replica consuming")

    image = noisy_jpeg((1600, 1200))
    ids = submit(client, 300, image)
    # what the cost model prices: the unfinished tasks by output format
    (pending,) = client.rpc("jobs", "pending_work")
    assert pending["output_format"] == "webp" and 0 < pending["count"] <= 300
    assert pending["input_bytes"] == pending["count"] * len(image)
    wait_until(lambda: status()["running"] == 3, timeout=90, interval=0.5,
               message="replicas at max")
    wait_until(lambda: queue().consumers == 3, timeout=90, interval=0.5,
               message="3 replicas consuming")

    assert_all_succeeded_once(client, ids, 300, timeout=300)
    # the management API's unacked figure is sampled: it catches up within seconds
    wait_until(lambda: queue().backlog == 0, timeout=30, interval=0.5, message="an empty queue")
    settled = wait_until(lambda: (lambda s: s if s["running"] == 1 and
                                  len(s["backend"]["replicas"]) == 1 else None)(status()),
                         timeout=90, interval=0.5, message="back to min after the window")
    changes = [(d["direction"], d["desired"]) for d in settled["decisions"]]
    # up to max, then down to min once the window has passed: no up after a
    # down (no flapping); the way down may pass through what the draining
    # backlog still asked for
    directions = [d for d, _ in changes]
    first_down = directions.index("down")
    assert set(directions[:first_down]) == {"up"} and set(directions[first_down:]) == {"down"}
    ups, downs = [n for d, n in changes if d == "up"], [n for d, n in changes if d == "down"]
    assert ups == sorted(ups) and ups[-1] == 3, changes
    assert downs == sorted(downs, reverse=True) and downs[-1] == 1, changes
    assert redeliveries(scaling_config) == 0
    # every conversion taught the cost model (task_succeeded carries its duration)
    assert settled["cost_model"]["webp"]["samples"] == 300


def test_scale_down_in_the_middle_of_work_loses_nothing(runner_factory, scaling_config, queue):
    runner = runner_factory(scaling_config, JobsService)
    runner.start()
    client = Client(scaling_config)
    backend = LocalBackend.from_config(scaling_config, scaling_config[SCALER_KEY])
    try:
        backend.scale(3)
        wait_until(lambda: queue().consumers == 3, timeout=90, interval=0.5,
                   message="3 replicas consuming")
        # heavy enough (about a second each) that tasks are surely in flight
        ids = submit(client, 60, noisy_jpeg((3000, 2400)), per_job=20, width=2400, quality=100)
        # every replica holds tasks (2 each) when two of them are told to go
        wait_until(lambda: sum(t["status"] == "processing" for j in ids
                               for t in client.job(j)["tasks"]) >= 6,
                   timeout=120, interval=0.2, message="6 tasks in flight")
        going = backend.replicas[1:]  # the newest go first
        backend.scale(1)
        assert backend.running() == 1
        wait_until(lambda: len(backend.describe()["replicas"]) == 1, timeout=90,
                   interval=0.5, message="the two drained replicas to exit")
        left = queue()
        assert left.consumers == 1
        assert_all_succeeded_once(client, ids, 60, timeout=300)
        assert redeliveries(scaling_config) == 0
        # the drained replicas exited cleanly (SIGTERM, graceful), with work still queued
        assert [r.proc.returncode for r in going] == [0, 0] and left.backlog > 0
    finally:
        backend.close()
