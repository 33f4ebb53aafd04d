"""ScalerService's entrypoints with worker_factory's mocked dependencies."""
import eventlet
from nameko.testing.services import worker_factory

from scaler.cost import PendingGroup
from scaler.policy import Policy
from scaler.service import ScalerService
from tests.unit.test_scaler_policy import BASE


def test_poll_prices_the_backlog_when_the_policy_targets_work():
    service = worker_factory(ScalerService)
    service.scaler.policy = Policy(**{**BASE, "target_work_s_per_replica": 20})
    service.jobs.pending_work.return_value = [
        {"output_format": "avif", "count": 2, "input_bytes": 4096}]
    service.poll()
    service.scaler.tick.assert_called_once_with(pending=[PendingGroup("avif", 2, 4096)])


def test_poll_asks_for_the_unfinished_tasks_whatever_the_policy():
    """They are the backlog fair sharing keeps off the queue (scaler/policy.py rule 1)."""
    service = worker_factory(ScalerService)
    service.scaler.policy = Policy(**BASE)
    service.jobs.pending_work.return_value = [
        {"output_format": "webp", "count": 40, "input_bytes": 10**6}]
    service.poll()
    service.scaler.tick.assert_called_once_with(pending=[PendingGroup("webp", 40, 10**6)])


def test_poll_falls_back_to_counts_when_jobs_does_not_answer(monkeypatch):
    monkeypatch.setattr("scaler.service.PENDING_WORK_TIMEOUT_S", 0.05)
    service = worker_factory(ScalerService)
    service.scaler.policy = Policy(**{**BASE, "target_work_s_per_replica": 20})
    service.jobs.pending_work.side_effect = lambda: eventlet.sleep(1)
    service.poll()
    service.scaler.tick.assert_called_once_with(pending=None)


def test_learn_feeds_the_cost_model():
    service = worker_factory(ScalerService)
    service.learn({"input": {"bytes": 2048}, "output": {"format": "webp"}, "duration_s": 0.5})
    service.scaler.cost.observe.assert_called_once_with("webp", 2048, 0.5)


def test_learn_logs_with_the_jobs_context(caplog):
    service = worker_factory(ScalerService)
    service.scaler.cost.rate.return_value = 0.25
    with caplog.at_level("INFO", logger="scaler.service"):
        service.learn({"job_id": "j1", "index": 3, "input": {"bytes": 10},
                       "output": {"format": "webp"}, "duration_s": 0.1})
    service.log_context.bind.assert_called_once_with(job_id="j1", task_index=3)
    assert "task j1/3 to webp took 0.1s; webp now costs 0.250 s per input MB" in caplog.text
