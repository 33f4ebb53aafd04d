"""The scaler with the swarm backend, as it runs in production: the real
`nameko run scaler.service` process scales a real Swarm service of
converters from the conversion queue's backlog; the jobs service records
every task's outcome."""
import io

from PIL import Image

from convertix.contract import JOB_FINAL
from scaler.backends.swarm import SwarmBackend
from tests.e2e.conftest import BIN
from tests.helpers import wait_until
from tests.swarm.conftest import EventTap, SwarmStack, converters_consume, wait_running

MIN, MAX = 1, 4
WINDOW_S = 8
TASKS, JOBS = 300, 6


def png(seed):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, 40, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_300_tasks_scale_min_to_max_and_back_with_nothing_lost(tmp_path, docker_client):
    stack = SwarmStack(tmp_path, docker_client).start_services()
    try:
        # Each conversion waits 0.4 s first (tests/swarm/slow_converter.py),
        # so that throughput follows the replica count even on two cores.
        name = stack.create_converter_service(
            replicas=MIN, module="tests.swarm.slow_converter:SlowConverter",
            workers=2, CONVERT_DELAY_S=0.4)
        backend = SwarmBackend(name, docker_client)
        wait_running(backend, MIN, stack=stack)
        converters_consume(stack, MIN)
        first = backend.running_task_ids()

        stack.start_process("scaler", [f"{BIN}/nameko", "run", "--config", "config.yaml",
                                       "scaler.service"],
                            SCALER_BACKEND="swarm", SWARM_SERVICE=name,
                            SCALER_MIN_REPLICAS=str(MIN), SCALER_MAX_REPLICAS=str(MAX),
                            SCALER_TARGET_BACKLOG="8", SCALER_UP_STEP="2",
                            SCALER_DOWN_WINDOW_S=str(WINDOW_S), SCALER_POLL_S="1",
                            SCALER_METRICS_PORT="0")
        wait_until(lambda: _status(stack), timeout=60, interval=0.5,
                   message="the scaler to answer")

        tap = EventTap(stack.env["AMQP_URI"])
        per_job = TASKS // JOBS
        job_ids = [stack.create_job([png(j * per_job + n) for n in range(per_job)],
                                    {"format": "png"}) for j in range(JOBS)]

        seen = {"max": 0}

        def drained():
            seen["max"] = max(seen["max"], backend.running())
            docs = [stack.job(job_id) for job_id in job_ids]
            final = all(d["status"] in JOB_FINAL for d in docs)
            return docs if final else None
        docs = wait_until(drained, timeout=180, interval=0.5, message="the 300 tasks")
        status = _status(stack)
        assert seen["max"] == MAX, (seen, status["decisions"], stack.log("scaler"))

        # every task succeeded, each delivered exactly once (no redelivery)
        tasks = [t for d in docs for t in d["tasks"]]
        assert len(tasks) == TASKS
        assert {t["status"] for t in tasks} == {"succeeded"}
        assert {t["attempts"] for t in tasks} == {1}
        counts = tap.counts()
        tap.close()
        assert set(counts.values()) == {1} and len(counts) == 2 * TASKS, counts
        outputs = list((tmp_path / "storage").glob("jobs/*/output/*.png"))
        assert len(outputs) == TASKS

        # idle for the stabilization window: back to min, read back from Docker
        wait_running(backend, MIN, timeout=WINDOW_S + 60, stack=stack)
        status = wait_until(lambda: (s := _status(stack)) and s.get("desired") == MIN and s,
                            timeout=30, interval=0.5, message="the scaler to report min")
        assert status["backend"]["backend"] == "swarm"
        assert status["backend"]["service"] == name
        directions = [d["direction"] for d in status["decisions"]]
        assert "up" in directions and "down" in directions
        # the replica that ran from the start was never replaced by a scale
        assert set(first) <= set(backend.running_task_ids()) or MIN == 0
    finally:
        stack.stop()


def _status(stack):
    try:
        return stack.rpc("scaler", "status", timeout=10)
    except Exception:  # noqa: BLE001  (not up yet)
        return None
