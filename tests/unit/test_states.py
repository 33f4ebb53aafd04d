import pytest

from services.jobs.states import job_status, next_task_status


@pytest.mark.parametrize("current, event, expected", [
    ("queued", "started", "processing"),
    ("processing", "started", "processing"),      # redelivery: still processing
    ("queued", "succeeded", "succeeded"),         # started event not seen yet
    ("processing", "succeeded", "succeeded"),
    ("processing", "failed", "failed"),
    ("queued", "cancelled", "cancelled"),
    ("processing", "cancelled", "cancelled"),
    ("succeeded", "started", None),               # stale redelivery ignored
    ("succeeded", "failed", None),
    ("failed", "succeeded", None),
    ("cancelled", "succeeded", None),             # late result of a cancelled task
    ("cancelled", "started", None),
])
def test_task_transitions(current, event, expected):
    assert next_task_status(current, event) == expected


@pytest.mark.parametrize("statuses, expected", [
    ([], "queued"),
    (["queued", "queued"], "queued"),
    (["queued", "processing"], "processing"),
    (["queued", "succeeded"], "processing"),
    (["succeeded", "succeeded"], "succeeded"),
    (["failed"], "failed"),
    (["succeeded", "failed"], "partial"),
    (["cancelled", "cancelled"], "cancelled"),
    (["succeeded", "cancelled"], "cancelled"),
    (["processing", "failed"], "processing"),
])
def test_job_status(statuses, expected):
    assert job_status(statuses) == expected


# An open job (its upload still being read) may get more tasks: never done
# while open, whatever its tasks say; only a cancel ends it.
@pytest.mark.parametrize("statuses, expected", [
    ([], "queued"),
    (["queued"], "queued"),
    (["queued", "succeeded"], "processing"),
    (["succeeded", "succeeded"], "processing"),
    (["failed"], "processing"),
    (["succeeded", "failed"], "processing"),
    (["succeeded", "cancelled"], "cancelled"),
])
def test_an_open_jobs_status(statuses, expected):
    assert job_status(statuses, open=True) == expected
