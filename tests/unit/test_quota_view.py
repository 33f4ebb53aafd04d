"""The gateway's view of a user's stored bytes (gateway/quota_view.py)."""
import pytest

from gateway.quota_view import MARGIN, SHARES, Known, QuotaView, admits

QUOTA = 100_000     # the margin: 10,000 bytes; a process's share of it: 1,250


@pytest.mark.parametrize("known, adding, now, expected", [
    (None, 1, 0.0, False),                                       # nothing learned: ask
    (Known(0, QUOTA, at=10.0), 1, 10.0, True),                   # fresh and far below
    (Known(0, QUOTA, at=10.0), 1, 11.99, True),
    (Known(0, QUOTA, at=10.0), 1, 12.0, False),                  # as old as max_age: ask
    (Known(0, QUOTA, at=10.0), 1, 9.0, False),                   # a clock gone back: ask
    (Known(0, QUOTA, at=10.0), 1250, 10.0, True),                # exactly this process's share
    (Known(0, QUOTA, at=10.0), 1251, 10.0, False),               # past it: ask
    (Known(0, QUOTA, at=10.0, added=1000), 250, 10.0, True),     # its own admissions count
    (Known(0, QUOTA, at=10.0, added=1000), 251, 10.0, False),
    (Known(89_000, QUOTA, at=10.0), 1000, 10.0, True),           # leaves exactly the margin
    (Known(89_001, QUOTA, at=10.0), 1000, 10.0, False),          # into the margin: ask
    (Known(89_000, QUOTA, at=10.0, added=500), 500, 10.0, True),
    (Known(89_001, QUOTA, at=10.0, added=500), 500, 10.0, False),
    (Known(200_000, QUOTA, at=10.0), 0, 10.0, False),            # past the quota already
])
def test_admits(known, adding, now, expected):
    assert admits(known, adding, now, max_age_s=2.0, margin=MARGIN, shares=SHARES) is expected


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_view_counts_its_own_admissions_and_outputs_until_it_asks_again():
    clock = Clock()
    view = QuotaView(2.0, clock=clock)
    assert view.admit("u", 10) is False                       # never asked: ask
    view.learned("u", used=500, quota=QUOTA, adding=10)       # that answer admitted 10
    assert [view.admit("u", 400) for _ in range(4)] == [True, True, True, False]
    assert view.known["u"].added == 1210                      # 10 + 3 x 400 admitted here
    view.add("u", 0), view.add("u", None)
    assert view.known["u"].added == 1210
    view.learned("u", used=89_000, quota=QUOTA)
    view.add("u", 700)                                        # an output answered
    assert view.admit("u", 300) is True and view.admit("u", 1) is False  # the margin
    view.learned("u", used=0, quota=QUOTA)
    clock.now += 2.0
    assert view.admit("u", 0) is False                        # too old: ask
    assert view.admit("someone else", 0) is False


def test_off_it_always_asks():
    view = QuotaView(0)
    view.learned("u", used=0, quota=QUOTA)
    assert view.admit("u", 1) is False and view.known == {}


def test_it_remembers_a_bounded_number_of_users():
    view = QuotaView(2.0, most_users=3)
    for user in "abc":
        view.learned(user, used=0, quota=QUOTA)
    view.learned("a", used=1, quota=QUOTA)                    # known: kept
    assert set(view.known) == {"a", "b", "c"}
    view.learned("d", used=0, quota=QUOTA)                    # a fourth: starts again
    assert set(view.known) == {"d"}
