"""Revoked sessions (gateway/revocations.py): a marker in the shared folder is
seen at once by every process; the accounts service is asked at most once per
session per window; a revocation only the service knows is seen within it."""
import os
import time

from gateway.revocations import FOLDER, REMOTE_CHECK_S, Revocations


class Service:
    def __init__(self):
        self.revoked, self.asked = set(), []

    def ask(self, sid):
        self.asked.append(sid)
        return sid in self.revoked


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_logout_in_one_process_holds_at_once_in_another(tmp_path):
    service = Service()
    a, b = (Revocations(str(tmp_path), service.ask) for _ in range(2))
    assert not b.is_revoked("s1")              # b has asked, and remembers "no"
    service.revoked.add("s1")
    a.revoked_now("s1", time.time() + 60)      # a handled the logout
    assert a.is_revoked("s1") and b.is_revoked("s1")
    assert service.asked == ["s1"]             # b went by the marker, not the service


def test_the_service_is_asked_once_per_window(tmp_path):
    service, clock = Service(), Clock()
    revocations = Revocations(str(tmp_path), service.ask, clock)
    for _ in range(50):
        assert not revocations.is_revoked("s1")
    assert service.asked == ["s1"]
    service.revoked.add("s1")                  # revoked without a gateway of this folder
    clock.now += REMOTE_CHECK_S - 1
    assert not revocations.is_revoked("s1")    # the documented window
    clock.now += 1
    assert revocations.is_revoked("s1")
    assert revocations.is_revoked("s1") and service.asked == ["s1", "s1"]  # kept


def test_a_session_id_that_is_no_file_name_goes_by_the_service(tmp_path):
    service = Service()
    revocations = Revocations(str(tmp_path), service.ask)
    revocations.revoked_now("../../etc/x", time.time() + 60)
    assert not os.path.exists(tmp_path / FOLDER / ".." / ".." / "etc")
    assert revocations.is_revoked("../../etc/x")          # this process knows
    other = Revocations(str(tmp_path), service.ask)
    service.revoked.add("../../etc/x")
    assert other.is_revoked("../../etc/x") and service.asked == ["../../etc/x"]


def test_ended_markers_are_removed(tmp_path):
    revocations = Revocations(str(tmp_path), Service().ask)
    revocations.revoked_now("old", time.time() - 1)
    revocations.revoked_now("live", time.time() + 3600)
    revocations.remove_ended()
    assert sorted(os.listdir(tmp_path / FOLDER)) == ["live"]
