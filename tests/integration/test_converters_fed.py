"""A user alone keeps every sandbox busy: the converter holds a task ready
behind each sandbox and the jobs service publishes that window (docs/DESIGN.md
"Keeping converters fed"), so a sandbox starts its next task without waiting
for the round trip converter -> jobs -> broker -> converter.

Measured from the sandboxes' own clocks (each reply says when its request
arrived and when the reply left, in the child's CLOCK_MONOTONIC), which the
converter puts in task_succeeded; real RabbitMQ, database and converter (a
process of its own)."""
import os
import signal
import subprocess
import sys

import pytest
from nameko.events import event_handler

from convertix.contract import CONVERT_QUEUE, CONVERTER_SERVICE, TASK_SUCCEEDED
from services.jobs.service import JobsService
from tests.conftest import make_service_config
from tests.helpers import wait_until
from tests.integration.conftest import Client, noisy_jpeg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASKS = 48
SANDBOXES = 2
# A sandbox's idle gap between two tasks, p95, from its own clock: the first
# bytes of the next request in, less the previous reply out. With the next
# task held ready what remains is the converter reading the reply and writing
# the next request, a few ms on a quiet machine, plus the scheduler's delay
# in running the two processes, which is not ours. On the 2-core development
# machine loaded by other engineers' test runs (load average 11-15), with the
# sandboxes at nice 10, the p95 measured 27 ms in one run and 135-169 ms in
# another (p50 13 ms); with no task ahead (every gap then also holds the round
# trip converter -> jobs -> broker -> converter) p50 91 ms, p95 190 ms. A few
# ms is not reachable under such load, and the p95 of the two cases overlaps
# there, so this bound only catches a sandbox left waiting for something slow
# (a timer, a poll); what tells a fed sandbox from a starved one under any
# load is HELD_READY below.
GAP_P95_S = 0.3
# The share of gaps at whose start the next task was already in the
# converter (received before the previous task's reply left the sandbox).
# Without tasks ahead it is 0: the next is published only once the previous
# has ended. With them, only a refill slower than a whole conversion (~0.2 s
# here) misses.
HELD_READY = 0.9

SEEN = []


class Listener:
    name = "fed_listener"

    @event_handler(CONVERTER_SERVICE, TASK_SUCCEEDED)
    def heard(self, payload):
        SEEN.append(payload)


@pytest.fixture
def config(rabbit_config, db_url, storage_root):
    # no cap configured: a user alone gets every sandbox and one task ahead of each
    return make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root,
                               max_workers=SANDBOXES)


@pytest.fixture
def converter(config, rabbit_config, rabbit_manager, tmp_path):
    """The converter in a process of its own, as deployed (`make run`'s
    command, config.yaml's defaults: one task ahead per sandbox, stages of
    slow tasks only). In the test's process its hub would stop whenever the
    jobs service there waits on the database, which is not what is measured."""
    env = {**os.environ, "AMQP_URI": rabbit_config["AMQP_URI"],
           "STORAGE_ROOT": config["STORAGE"]["root"], "MAX_WORKERS": str(SANDBOXES),
           "LOG_DIR": str(tmp_path / "log"), "METRICS_PORT": "0",
           "METRICS_TARGETS_DIR": str(tmp_path / "targets"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "converter.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "infra.runner", "--config", "config.yaml",
                             "services.converter.service"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)

    def consuming():
        assert proc.poll() is None, (tmp_path / "converter.log").read_text()[-3000:]
        try:
            return rabbit_manager.get_queue(rabbit_config["vhost"], CONVERT_QUEUE)["consumers"]
        except Exception:  # not declared yet
            return 0

    try:
        wait_until(lambda: consuming() == 1, timeout=90, message="the converter consuming")
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def spans(payloads):
    """{sandbox: [(began, ended, received)] in order}: each task's run on its
    sandbox (the child's clock) and its arrival in the converter (the same clock)."""
    runs = {}
    for payload in payloads:
        run = payload["sandbox"]
        runs.setdefault(run["sandbox"], []).append((run["began"], run["ended"], run["received"]))
    return {sandbox: sorted(values) for sandbox, values in runs.items()}


def test_a_lone_users_job_keeps_every_sandbox_busy(runner_factory, config, converter):
    SEEN.clear()
    runner_factory(config, JobsService, Listener).start()
    client = Client(config)
    # ~0.1-0.5 s of engine work each: longer than the round trip it must hide
    image = noisy_jpeg((1600, 1200))
    job = client.submit([(f"{n}.jpg", image) for n in range(TASKS)], format="webp", width=800)
    assert client.wait_final(job["id"], timeout=240)["status"] == "succeeded"
    wait_until(lambda: len(SEEN) >= TASKS, timeout=30, message="every task_succeeded heard")

    per_sandbox = spans(p for p in SEEN if p["job_id"] == job["id"])
    assert len(per_sandbox) == SANDBOXES  # both sandboxes worked
    pairs = [(before, after) for runs in per_sandbox.values()
             for before, after in zip(runs, runs[1:])]
    assert len(pairs) == TASKS - SANDBOXES
    gaps = sorted(after[0] - before[1] for before, after in pairs)
    assert gaps[0] >= 0  # one request at a time per sandbox
    ready = sum(after[2] <= before[1] for before, after in pairs) / len(pairs)
    print(f"sandbox gaps ms: p50 {gaps[len(gaps) // 2] * 1000:.1f}, "
          f"p95 {p95(gaps) * 1000:.1f}, max {gaps[-1] * 1000:.1f}; "
          f"next task held ready: {ready:.0%}")
    assert ready >= HELD_READY, ready
    assert p95(gaps) < GAP_P95_S, gaps
