"""The shared corpus through the real pipeline: jobs service → RabbitMQ →
converter (sandboxed engine) → events, as a user's job would travel."""
import time

import pytest
from PIL import Image

from convertix.errors import TASK_ERROR_CODES
from convertix.imaging import extension
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.corpus_cases import BAD, ORIENTED, VALID, expected_size, may_succeed
from tests.helpers import corpus_bytes
from tests.integration.conftest import Client, png_bytes

BAD_DEADLINE_S = 20  # per task: CONVERTER.timeout_s below


@pytest.fixture
def client(runner_factory, service_config):
    service_config["CONVERTER"]["timeout_s"] = BAD_DEADLINE_S
    runner = runner_factory(service_config, JobsService, ConverterService)
    runner.start()
    return Client(service_config)


def submit_all(client, paths, **options):
    return client.submit([(path.rsplit("/", 1)[1], corpus_bytes(path)) for path in paths],
                         **options)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_every_readable_valid_file_converts_with_the_right_size(client, fmt):
    doc = client.wait_final(submit_all(client, VALID, format=fmt, animated=False)["id"],
                            timeout=600)
    failures = {VALID[t["index"]]: t["error"] for t in doc["tasks"] if t["status"] != "succeeded"}
    assert failures == {}
    for task, path in zip(doc["tasks"], VALID):
        want = expected_size(path)
        assert (task["output"]["width"], task["output"]["height"]) == want, path
    for found in client.rpc("jobs", "result_files", doc["id"], client.user_id)[:20]:
        path = client.storage.output_path(doc["id"], found["index"], extension(fmt))
        with Image.open(path) as image:  # the stored bytes are what the doc says
            assert image.format.lower() == fmt
            assert image.size == expected_size(VALID[found["index"]])


def test_orientation_files_come_out_upright(client):
    paths = [path for path, _ in ORIENTED]
    doc = client.wait_final(submit_all(client, paths, format="png")["id"], timeout=300)
    sizes = {}
    for task, (path, orientation) in zip(doc["tasks"], ORIENTED):
        assert task["status"] == "succeeded", (path, task["error"])
        sizes[path] = (task["output"]["width"], task["output"]["height"])
    # The recurser set: every Landscape_N / Portrait_N shows the same upright
    # picture as its _1 (pixels are compared in the unit layer).
    for path, _ in ORIENTED:
        if "exif-orientation-examples" in path:
            assert sizes[path] == sizes[path.rsplit("_", 1)[0] + "_1.jpg"], path


def test_bad_files_fail_with_a_clear_code_and_the_converter_carries_on(client):
    started = time.monotonic()
    doc = client.wait_final(submit_all(client, [r["path"] for r in BAD], format="png")["id"],
                            timeout=600)
    for task, row in zip(doc["tasks"], BAD):
        if task["status"] == "succeeded":
            assert may_succeed(row), row["path"]
            continue
        assert task["status"] == "failed", row["path"]
        assert task["error"]["code"] in TASK_ERROR_CODES, (row["path"], task["error"])
        assert task["error"]["message"], row["path"]
        assert task["attempts"] == 1, row["path"]  # a bad image is not retried
    # bounded: ~20 s here for all of them on two workers (a few bombs run
    # into the per-task deadline); a hang would blow far past this.
    assert time.monotonic() - started < 180

    after = client.wait_final(client.submit([("after.png", png_bytes((40, 30)))],
                                            format="webp")["id"])
    assert after["status"] == "succeeded"
