"""Small tasks in chunks, through a real RabbitMQ and real sandboxes: each
task of a chunk ends on its own. A sandbox killed mid-chunk costs a retry of
its task alone; a corrupt image fails alone; a chunk past the delivery limit
fails each of its unfinished tasks with its own dead-letter record."""
import contextlib
import os
import signal

import pytest

from convertix.contract import task_indexes
from infra.nameko.queues import consume_tasks
from services.converter.engine import Engine, EnginePool
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.integration.conftest import Client, noisy_jpeg, png_bytes

# What the converter below saw, in this process (runner_factory runs it here).
DELIVERIES = []  # the task indexes of each message delivered
CONVERTED = []   # the input bytes of each conversion begun
KILL = {}        # input bytes -> how many times to kill its sandbox as it encodes
RAISE = set()    # input bytes whose conversion always raises (worth a retry)


class _Engine(Engine):
    @contextlib.contextmanager
    def reserve(self):
        with super().reserve() as convert:
            def watched(data, options, on_stage=None):
                CONVERTED.append(data)
                if data in RAISE:
                    raise RuntimeError("simulated converter bug")

                def stage(name):
                    # the child is encoding (a second for this image): killed mid-task
                    if name == "encode" and KILL.get(data):
                        KILL[data] -= 1
                        os.kill(convert.sandbox._proc.pid, signal.SIGKILL)
                    if on_stage is not None:
                        on_stage(name)
                return convert(data, options, on_stage=stage)
            yield watched


class _WatchedEngine(EnginePool):
    def get_dependency(self, worker_ctx):
        return _Engine(self)


class WatchedConverter(ConverterService):
    engine = _WatchedEngine()

    @consume_tasks()  # an entrypoint again: nameko looks for it on the method
    def convert_task(self, message):
        DELIVERIES.append(task_indexes(message))
        return super().convert_task(message)


@pytest.fixture
def chunked(runner_factory, service_config):
    """The jobs service and the watched converter; a user's tasks all
    published at once (cap 8), and chunks that take a slow image too."""
    DELIVERIES.clear()
    CONVERTED.clear()
    KILL.clear()
    RAISE.clear()
    config = {**service_config,
              "CONVERTER": {**service_config["CONVERTER"], "chunk_max_tasks": 8,
                            "chunk_max_s": 60},
              "JOBS": {"max_tasks_in_flight_per_user": 8}}
    runner = runner_factory(config, JobsService, WatchedConverter)
    runner.start()
    return Client(config)


def small(n):
    """A distinct small PNG per n (the engine above tells tasks by their bytes)."""
    return png_bytes((32 + n, 24), colour=(10 * n, 30, 30))


def times_converted(data):
    return sum(1 for seen in CONVERTED if seen == data)


def test_a_sandbox_killed_mid_chunk_retries_only_its_task(chunked):
    slow = noisy_jpeg((3000, 2000))  # about a second of PNG encoding
    inputs = [small(0), small(1), slow, small(3)]
    KILL[slow] = 1

    done = chunked.wait_final(chunked.submit(
        [(f"{i}.img", data) for i, data in enumerate(inputs)])["id"], timeout=120)

    assert done["status"] == "succeeded"
    # one message, delivered again whole once: only the killed task ran again
    assert DELIVERIES == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert [times_converted(data) for data in inputs] == [1, 1, 2, 1]
    assert [task["attempts"] for task in done["tasks"]] == [1, 1, 2, 1]


def test_a_corrupt_image_in_a_chunk_fails_alone(chunked):
    inputs = [small(0), small(1), png_bytes()[:60], small(3)]  # a PNG header and no more

    done = chunked.wait_final(chunked.submit(
        [(f"{i}.png", data) for i, data in enumerate(inputs)])["id"])

    assert done["status"] == "partial"
    assert DELIVERIES == [[0, 1, 2, 3]]  # acked at once: nothing to retry
    assert [(t["status"], t["attempts"]) for t in done["tasks"]] == [
        ("succeeded", 1), ("succeeded", 1), ("failed", 1), ("succeeded", 1)]
    assert done["tasks"][2]["error"]["code"] == "CORRUPT_IMAGE"
    assert all(done["tasks"][i]["error"] is None for i in (0, 1, 3))


def test_a_chunk_past_the_delivery_limit_dead_letters_each_unfinished_task(
        chunked, service_config):
    inputs = [small(0), small(1), small(2), small(3)]
    RAISE.update({inputs[1], inputs[3]})
    limit = service_config["CONVERTER"]["max_attempts"]

    done = chunked.wait_final(chunked.submit(
        [(f"{i}.png", data) for i, data in enumerate(inputs)])["id"])

    assert done["status"] == "partial"
    assert DELIVERIES == [[0, 1, 2, 3]] * limit
    assert [times_converted(data) for data in inputs] == [1, limit, 1, limit]
    ok, bad = [done["tasks"][i] for i in (0, 2)], [done["tasks"][i] for i in (1, 3)]
    assert [(t["status"], t["attempts"], t["error"]) for t in ok] == [("succeeded", 1, None)] * 2
    for task in bad:  # each its own record, as a task that travelled alone
        assert (task["status"], task["attempts"]) == ("failed", limit)
        assert task["error"]["code"] == "INTERNAL_ERROR"
        assert "dead-lettered" in task["error"]["message"]
