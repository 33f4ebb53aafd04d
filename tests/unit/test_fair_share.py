"""services/jobs/fair.share: the default cap per user, as a table."""
import pytest

from services.jobs.fair import share


@pytest.mark.parametrize("sandboxes, users, cap", [  # no task ahead: one per sandbox
    (2, 1, 2),     # alone: every sandbox, none queued behind them
    (2, 2, 1),     # two users: one sandbox each
    (8, 3, 2),     # 8 among 3: 2 each (the rest go to whoever's ends first)
    (2, 5, 1),     # more users than sandboxes: still 1 each, queue order decides
    (0, 1, 1),     # nothing consuming yet: as if one sandbox
    (0, 4, 1),
    (6, 0, 6),     # no one counted yet (the job being created): alone
])
def test_share(sandboxes, users, cap):
    assert share(sandboxes, users) == cap


@pytest.mark.parametrize("sandboxes, users, ahead, cap", [
    (2, 1, 1, 4),  # alone: every sandbox and one task ready behind each
    (2, 2, 1, 2),  # two users: the window of 4 halved
    (2, 3, 1, 1),  # 4 among 3: 1 each
    (8, 3, 1, 5),  # 16 among 3
    (0, 1, 1, 2),  # nothing consuming yet: as if one sandbox, one ahead
    (2, 1, 2, 6),  # two ahead per sandbox
    (4, 10, 1, 1),  # never below one
])
def test_share_with_tasks_ahead(sandboxes, users, ahead, cap):
    assert share(sandboxes, users, ahead) == cap
