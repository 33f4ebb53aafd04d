"""The pipeline through a real RabbitMQ: jobs → conversion queue → converter → events → jobs."""
import os

import pytest
from PIL import Image

from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import make_service_config
from tests.faulty_converter import FaultyConverter
from tests.helpers import wait_until
from tests.integration.conftest import Client, jpeg_bytes, noisy_jpeg, png_bytes


@pytest.fixture
def config(rabbit_config, db_url, storage_root):
    return make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root)


def test_job_converts_on_both_databases(runner_factory, config):
    runner = runner_factory(config, AccountsService, JobsService, ConverterService)
    runner.start()
    client = Client(config)

    doc = client.submit([("a.png", png_bytes((64, 48))), ("b.jpg", jpeg_bytes((30, 60)))],
                        format="webp", width=32)
    assert doc["status"] == "queued" and [t["status"] for t in doc["tasks"]] == ["queued"] * 2

    done = client.wait_final(doc["id"])
    assert done["status"] == "succeeded"
    for task, expected in zip(done["tasks"], [(32, 24), (30, 60)]):  # no enlarging
        assert task["attempts"] == 1 and task["error"] is None
        assert task["output"]["format"] == "webp"
        assert (task["output"]["width"], task["output"]["height"]) == expected
        assert task["output"]["url"].endswith(f"/tasks/{task['index']}/result")
    (first, _) = client.rpc("jobs", "result_files", doc["id"], client.user_id)
    with Image.open(client.storage.output_path(doc["id"], first["index"], "webp")) as image:
        assert image.format == "WEBP" and image.size == (32, 24)


def test_corrupt_image_fails_only_its_own_task(runner_factory, service_config):
    runner = runner_factory(service_config, JobsService, ConverterService)
    runner.start()
    client = Client(service_config)
    broken = png_bytes()[:60]  # a PNG header and nothing after it

    done = client.wait_final(client.submit([("ok.png", png_bytes()), ("bad.png", broken)])["id"])

    assert done["status"] == "partial"
    ok, bad = done["tasks"]
    assert ok["status"] == "succeeded"
    assert bad["status"] == "failed" and bad["error"]["code"] == "CORRUPT_IMAGE"
    assert bad["attempts"] == 1  # a bad image is not retried


def test_task_that_always_raises_is_dead_lettered(runner_factory, service_config):
    runner = runner_factory(service_config, JobsService, FaultyConverter)
    runner.start()
    client = Client(service_config)

    done = client.wait_final(client.submit([("a.png", png_bytes())])["id"])

    (task,) = done["tasks"]
    assert done["status"] == "failed"
    assert task["error"]["code"] == "INTERNAL_ERROR"
    assert "dead-lettered" in task["error"]["message"]
    assert task["attempts"] == service_config["CONVERTER"]["max_attempts"] == 3


def test_converter_stopped_with_tasks_queued_then_restarted(
        runner_factory, container_factory, service_config):
    jobs = runner_factory(service_config, JobsService)
    jobs.start()
    client = Client(service_config)
    big = noisy_jpeg((2000, 1500))
    ids = [client.submit([(f"{i}.jpg", big)])["id"] for i in range(6)]
    converter = container_factory(ConverterService, service_config)
    converter.start()
    wait_until(lambda: any(client.job(j)["status"] == "processing" for j in ids),
               message="a task to start")

    converter.stop()  # graceful: finishes what it holds, takes nothing more
    settled = wait_until(lambda: (lambda s: s if "processing" not in s else None)(
        [client.job(job_id)["status"] for job_id in ids]), message="in-flight tasks to end")
    assert "queued" in settled

    restarted = container_factory(ConverterService, service_config)
    restarted.start()
    finished = [client.wait_final(job_id, timeout=120) for job_id in ids]
    assert {doc["status"] for doc in finished} == {"succeeded"}
    # nothing was requeued needlessly by the graceful stop
    assert {doc["tasks"][0]["attempts"] for doc in finished} == {1}


def test_converter_killed_mid_work_loses_nothing(runner_factory, container_factory,
                                                service_config):
    jobs = runner_factory(service_config, JobsService)
    jobs.start()
    client = Client(service_config)
    big = noisy_jpeg((3000, 2000))  # noise: about a second of PNG encoding each
    ids = [client.submit([(f"{i}.jpg", big)], format="png")["id"] for i in range(6)]

    converter = container_factory(ConverterService, service_config)
    converter.start()
    # Kill it once it holds work: unacked messages go back to the queue.
    wait_until(lambda: any(client.job(j)["status"] == "processing" for j in ids),
               message="a task to start")
    converter.kill()

    again = container_factory(ConverterService, service_config)
    again.start()
    finished = [client.wait_final(job_id, timeout=120) for job_id in ids]
    assert {doc["status"] for doc in finished} == {"succeeded"}
    # the task(s) held by the killed converter were delivered again
    assert max(doc["tasks"][0]["attempts"] for doc in finished) >= 2


def test_cancel_removes_files(runner_factory, service_config):
    runner = runner_factory(service_config, JobsService)  # no converter: tasks stay queued
    runner.start()
    client = Client(service_config)
    doc = client.submit([("a.png", png_bytes())])
    job_dir = client.storage.job_dir(doc["id"])
    assert os.path.isdir(job_dir)

    cancelled = client.rpc("jobs", "cancel_job", doc["id"], client.user_id)

    assert cancelled["status"] == "cancelled"
    assert cancelled["tasks"][0]["status"] == "cancelled"
    assert not os.path.exists(job_dir)


def test_jobs_are_private_and_paginated(runner_factory, service_config):
    runner = runner_factory(service_config, JobsService)
    runner.start()
    alice, bob = Client(service_config), Client(service_config)
    ids = [alice.submit([("a.png", png_bytes())])["id"] for _ in range(5)]

    first = alice.rpc("jobs", "list_jobs", alice.user_id, limit=2)
    second = alice.rpc("jobs", "list_jobs", alice.user_id, limit=2, cursor=first["next_cursor"])
    third = alice.rpc("jobs", "list_jobs", alice.user_id, limit=2, cursor=second["next_cursor"])
    listed = [d["id"] for page in (first, second, third) for d in page["items"]]
    assert listed == list(reversed(ids))  # newest first, nothing twice
    assert third["next_cursor"] is None

    assert bob.rpc("jobs", "list_jobs", bob.user_id)["items"] == []
    from convertix.errors import NotFound
    with pytest.raises(NotFound):
        bob.rpc("jobs", "get_job", ids[0], bob.user_id)
