"""Which tasks share a message (services/jobs/chunks.py), as a table; and
what a task is estimated to cost (services/jobs/costs.py)."""
import pytest

from services.jobs.chunks import chunks
from services.jobs.costs import Conversions

MB = 1024 * 1024


def tasks(*specs):
    """(job, seconds) pairs -> the rule's input, each item named job:position."""
    return [(f"{job}:{n}", job, seconds) for n, (job, seconds) in enumerate(specs)]


@pytest.mark.parametrize("specs, max_tasks, max_s, expected", [
    # nothing to publish
    ((), 8, 1.0, []),
    # one small task: a message of its own, as before
    ((("a", 0.1),), 8, 1.0, [["a:0"]]),
    # small tasks of one job share a message
    ((("a", 0.1),) * 3, 8, 1.0, [["a:0", "a:1", "a:2"]]),
    # at most max_tasks per message
    ((("a", 0.01),) * 5, 2, 1.0, [["a:0", "a:1"], ["a:2", "a:3"], ["a:4"]]),
    # at most max_s estimated seconds per message
    ((("a", 0.4),) * 4, 8, 1.0, [["a:0", "a:1"], ["a:2", "a:3"]]),
    # exactly max_s still fits
    ((("a", 0.5),) * 2, 8, 1.0, [["a:0", "a:1"]]),
    # a task above max_s goes alone, and so do the small ones around it
    ((("a", 0.1), ("a", 5.0), ("a", 0.1)), 8, 1.0, [["a:0"], ["a:1"], ["a:2"]]),
    # large tasks: one per message
    ((("a", 2.0),) * 3, 8, 1.0, [["a:0"], ["a:1"], ["a:2"]]),
    # never two jobs in one message
    ((("a", 0.1), ("a", 0.1), ("b", 0.1), ("b", 0.1)), 8, 1.0,
     [["a:0", "a:1"], ["b:2", "b:3"]]),
    # chunks of one: one task per message
    ((("a", 0.1),) * 3, 1, 1.0, [["a:0"], ["a:1"], ["a:2"]]),
])
def test_chunks(specs, max_tasks, max_s, expected):
    assert chunks(tasks(*specs), max_tasks, max_s) == expected


def test_every_task_is_published_once_in_order():
    specs = [("a", 0.3), ("a", 3.0), ("b", 0.2), ("b", 0.2), ("a", 0.1)] * 7
    grouped = chunks(tasks(*specs), 3, 1.0)
    assert [item for chunk in grouped for item in chunk] == [item for item, _, _ in tasks(*specs)]


def test_estimates_follow_input_bytes_until_the_model_learns():
    costs = Conversions()
    # the scaler's prior, by input bytes: a big input costs more than a small one
    assert costs.estimate_s("webp", 10 * MB) > 10 * costs.estimate_s("webp", 100 * 1024)
    before = costs.estimate_s("png", 100)
    for n in range(20):  # 100-byte PNGs that each took half a second
        costs.record({"job_id": "j", "index": n, "duration_s": 0.5,
                      "input": {"bytes": 100}, "output": {"format": "png"}})
    assert costs.estimate_s("png", 100) > 10 * before
    assert costs.estimate_s("webp", 100) < costs.estimate_s("png", 100)  # per format
