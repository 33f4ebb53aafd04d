"""The system as `make run` starts it: the scaler runs the converter
replicas. An admin sees queues, workers and jobs at /api/v1/admin/stats, the
scaler answers `scaler.status()` and serves its Prometheus metrics."""
import pytest
import requests

from convertix.contract import CONVERT_QUEUE, DEAD_LETTER_QUEUE
from tests.e2e.conftest import BIN, Api, Stack, free_port
from tests.e2e.test_logs import make_admin, whole_life
from tests.helpers import corpus_bytes, wait_until


class ScaledStack(Stack):
    """The converter replicas are the scaler's (local backend), not ours."""

    def start_converter(self):
        self.metrics_port = free_port()
        self.start_process("scaler", [f"{BIN}/python", "-m", "infra.runner", "--config",
                                      "config.yaml", "scaler.service"],
                           SCALER_MIN_REPLICAS="1", SCALER_MAX_REPLICAS="2",
                           SCALER_POLL_S="0.5", SCALER_DOWN_WINDOW_S="5",
                           SCALER_METRICS_PORT=str(self.metrics_port))


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    running = ScaledStack(tmp_path_factory.mktemp("scaled")).start()
    yield running
    running.stop()  # asserts that the scaler (and so its replicas) stopped on SIGTERM


def test_admin_stats_show_queues_workers_and_jobs(scaled):
    user = Api(scaled, "statsuser")
    answer = user.upload([("coffee.png", corpus_bytes("photos/skimage/coffee.png"))],
                         {"format": "webp", "width": 64})
    assert answer.status_code == 202, answer.text
    assert user.wait_final(answer.json()["id"])["status"] == "succeeded"

    assert user.get("/admin/stats").status_code == 403
    admin = Api(scaled, "statsadmin")
    make_admin(scaled, "statsadmin")
    admin.login("statsadmin", "password-statsadmin")

    def settled_stats():
        answer = admin.get("/admin/stats")
        assert answer.status_code == 200, answer.text
        stats = answer.json()
        queue = stats["queues"][CONVERT_QUEUE]
        # The management API has no figures for a queue it has not sampled
        # yet, and samples every 5 s: a sample taken during the conversion
        # still shows the task unacked (and the scaler counts it) for a while.
        settled = queue["source"] == "amqp+management" and queue["backlog"] == 0 \
            and "asks for min" in stats["workers"]["reason"]
        return stats if settled else None
    stats = wait_until(settled_stats, timeout=30, interval=1, message="management stats")
    queue = stats["queues"][CONVERT_QUEUE]
    assert queue["consumers"] == 1 and queue["backlog"] == 0
    assert stats["queues"][DEAD_LETTER_QUEUE]["ready"] == 0
    workers = stats["workers"]
    assert workers["backend"] == "local" and workers["running"] == 1 and workers["desired"] == 1
    assert [r["state"] for r in workers["replicas"]] == ["running"]
    assert "asks for min 1" in workers["reason"]
    assert stats["jobs"]["succeeded"] == 1 and stats["tasks"]["succeeded"] == 1


def test_scaler_serves_its_metrics(scaled):
    url = f"http://127.0.0.1:{scaled.metrics_port}/metrics"

    def desired_one():
        try:
            text = requests.get(url, timeout=5).text
        except requests.ConnectionError:
            return False
        return "convertix_scaler_desired_replicas 1.0" in text and text
    text = wait_until(desired_one, timeout=30, interval=0.5, message="the scaler's metrics")
    assert "convertix_scaler_actual_replicas 1.0" in text
    assert 'convertix_scaler_backlog_tasks{kind="ready"} 0.0' in text
    assert 'convertix_scaler_decisions_total{direction="up"} 1.0' in text


def test_a_jobs_whole_life_includes_the_scaler(scaled):
    """One search by job id: gateway, jobs, converter, and the scaler, whose
    cost model learned from the job's conversion."""
    admin = Api(scaled, "lifeadmin")
    make_admin(scaled, "lifeadmin")
    admin.login("lifeadmin", "password-lifeadmin")
    answer = admin.upload([("coffee.png", corpus_bytes("photos/skimage/coffee.png"))],
                          {"format": "webp", "width": 64})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert admin.wait_final(job_id)["status"] == "succeeded"

    found = whole_life(admin, job_id, needed=("gateway", "jobs", "converter", "scaler"))
    (learned,) = [item for item in found["items"] if item["service"]["name"] == "scaler"]
    assert f"task {job_id}/0 to webp took" in learned["message"]
    assert learned["convertix"] == {"job_id": job_id, "task_index": 0}
