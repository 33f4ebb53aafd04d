"""ScalerService's entrypoints with worker_factory's mocked dependencies."""
import eventlet
from nameko.testing.services import worker_factory

from infra.logs import context
from scaler.cost import PendingGroup
from scaler.policy import Policy
from scaler.service import ScalerService
from tests.unit.test_scaler_policy import BASE


def test_poll_prices_the_backlog_when_the_policy_targets_work():
    service = worker_factory(ScalerService)
    service.scaler.policy = Policy(**{**BASE, "target_work_s_per_replica": 20})
    service.jobs.pending_work.return_value = {"pending": [
        {"output_format": "avif", "count": 2, "input_bytes": 4096}],
        "source": "p1", "conversions": []}
    service.poll()
    service.scaler.tick.assert_called_once_with(pending=[PendingGroup("avif", 2, 4096)])


def test_poll_asks_for_the_unfinished_tasks_whatever_the_policy():
    """They are the backlog fair sharing keeps off the queue (scaler/policy.py rule 1)."""
    service = worker_factory(ScalerService)
    service.scaler.policy = Policy(**BASE)
    service.jobs.pending_work.return_value = {"pending": [
        {"output_format": "webp", "count": 40, "input_bytes": 10**6}],
        "source": "p1", "conversions": []}
    service.poll()
    service.scaler.tick.assert_called_once_with(pending=[PendingGroup("webp", 40, 10**6)])


def test_poll_falls_back_to_counts_when_jobs_does_not_answer(monkeypatch):
    monkeypatch.setattr("scaler.service.PENDING_WORK_TIMEOUT_S", 0.05)
    service = worker_factory(ScalerService)
    service.scaler.policy = Policy(**{**BASE, "target_work_s_per_replica": 20})
    service.jobs.pending_work.side_effect = lambda **_: eventlet.sleep(1)
    service.poll()
    service.scaler.tick.assert_called_once_with(pending=None)


def test_poll_learns_the_costs_in_the_same_answer():
    """No copy of every task event: the conversions the jobs process applied
    come with the backlog, after the last one learned from that process, and
    the model learns each before pricing."""
    service = worker_factory(ScalerService)
    service.scaler.learned = {}
    service.scaler.cost.rate.return_value = 0.25
    service.jobs.pending_work.return_value = {"pending": [], "source": "p1", "conversions": [
        {"n": 1, "job_id": "j1", "index": 0, "output_format": "webp", "input_bytes": 2048,
         "duration_s": 0.5},
        {"n": 2, "job_id": "j1", "index": 1, "output_format": "png", "input_bytes": 10,
         "duration_s": 0.1}]}
    service.poll()
    service.jobs.pending_work.assert_called_once_with(learned={})
    assert service.scaler.cost.observe.call_args_list == [
        (("webp", 2048, 0.5),), (("png", 10, 0.1),)]
    service.scaler.tick.assert_called_once_with(pending=[])
    service.poll()  # the next poll asks for what came after
    assert service.jobs.pending_work.call_args.kwargs == {"learned": {"p1": 2}}


def test_a_lost_answer_is_asked_for_again(monkeypatch):
    monkeypatch.setattr("scaler.service.PENDING_WORK_TIMEOUT_S", 0.05)
    service = worker_factory(ScalerService)
    service.scaler.learned = {"p1": 5}
    service.jobs.pending_work.side_effect = lambda **_: eventlet.sleep(1)
    service.poll()
    assert service.scaler.learned == {"p1": 5}  # nothing learned: asked from 5 again
    assert not service.scaler.cost.observe.called


def test_the_jobs_service_hands_over_each_conversion_once():
    from services.jobs.costs import Conversions

    kept = Conversions(max_kept=3)
    for n in range(4):
        kept.record({"job_id": "j", "index": n, "duration_s": 0.1 * n,
                     "output": {"format": "webp"}, "input": {"bytes": 100}})
    kept.record({"job_id": "j", "index": 9})  # no duration: nothing to learn
    first = kept.since({})
    assert [c["index"] for c in first["conversions"]] == [1, 2, 3]  # the oldest went
    learned = {first["source"]: first["conversions"][1]["n"]}
    assert [c["index"] for c in kept.since(learned)["conversions"]] == [3]
    assert kept.since({"another process": 99})["conversions"] == first["conversions"]


def test_learn_logs_with_the_jobs_context(monkeypatch):
    service = worker_factory(ScalerService)
    service.scaler.cost.rate.return_value = 0.25
    said = []
    monkeypatch.setattr("scaler.service.log.info",
                        lambda message, *args: said.append((message % args, context.current())))
    service.learn({"job_id": "j1", "index": 3, "input_bytes": 10,
                   "output_format": "webp", "duration_s": 0.1})
    ((message, bound),) = said
    assert "task j1/3 to webp took 0.1s; webp now costs 0.250 s per input MB" in message
    assert bound == {"job_id": "j1", "task_index": 3}
    assert context.current() == {}  # only that line: the poll's own lines name no job
