"""Which due webhook attempts start now (services/notifier/fairness.py),
table-tested: per-user, per-host and total limits, oldest first."""
import pytest

from services.notifier.fairness import InFlight, Limits, host_key, pick

LIMITS = Limits(total=5, per_user=2, per_host=3)


def candidates(*rows):
    return [(f"j{n}", user, host) for n, (user, host) in enumerate(rows)]


@pytest.mark.parametrize("rows, running, started", [
    # one user with many due: only per_user start; the other user's one starts too
    ([("a", "h1")] * 6 + [("b", "h2")], [], ["j0", "j1", "j6"]),
    # a user already at its limit starts nothing; the others do
    ([("a", "h1"), ("b", "h1"), ("a", "h2")], [("a", "h9"), ("a", "h9")], ["j1"]),
    # one receiver: per_host across users
    ([("a", "h1"), ("b", "h1"), ("c", "h1"), ("d", "h1"), ("d", "h2")], [], ["j0", "j1", "j2", "j4"]),
    # the total bounds it all, oldest first
    ([(u, u) for u in "abcdefg"], [], ["j0", "j1", "j2", "j3", "j4"]),
    ([(u, u) for u in "abcdefg"], [("x", "x")] * 1 + [("y", "y")] * 2, ["j0", "j1"]),
    ([], [], []),
])
def test_pick(rows, running, started):
    in_flight = InFlight.empty()
    for user, host in running:
        in_flight.add(user, host)
    chosen = pick(candidates(*rows), in_flight, LIMITS)
    assert [job for job, _user, _host in chosen] == started
    assert in_flight.total == len(running) + len(started)


def test_in_flight_counts_go_back_to_nothing():
    in_flight = InFlight.empty()
    for _ in range(2):
        in_flight.add("a", "h")
    assert in_flight.busy_users(LIMITS) == ["a"]
    in_flight.remove("a", "h")
    assert in_flight.busy_users(LIMITS) == []
    in_flight.remove("a", "h")
    assert (in_flight.total, dict(in_flight.users), dict(in_flight.hosts)) == (0, {}, {})


@pytest.mark.parametrize("url, key", [
    ("http://Example.COM/hook", "example.com:80"),
    ("https://example.com/hook", "example.com:443"),
    ("http://example.com:8080/", "example.com:8080"),
    ("http://[::1]:9/", "::1:9"),
    ("http://127.0.0.1:99999/", ""),
])
def test_host_key(url, key):
    assert host_key(url) == key


def test_limits_from_config():
    assert Limits.from_config({"concurrency": 20, "per_user_in_flight": 4,
                               "per_host_in_flight": 3}) == Limits(20, 4, 3)
