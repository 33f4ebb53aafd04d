"""services/jobs/fair.share: the default cap per user, as a table."""
import pytest

from services.jobs.fair import share


@pytest.mark.parametrize("sandboxes, users, cap", [
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
