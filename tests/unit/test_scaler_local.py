"""The local backend's process handling, with stand-in processes (sh)."""
import signal
import time

import pytest

from infra.config.schema import SCALER
from infra.queue_stats import QueueStats
from scaler.backends.local import LocalBackend
from scaler.loop import Scaler
from scaler.policy import Policy
from tests.helpers import wait_until
from tests.unit.test_scaler_policy import BASE

# Each stand-in writes <ready dir>/<its pid> once its SIGTERM trap is set.
# finishes its "work" for 0.5 s after SIGTERM, then exits 0 (as a draining converter)
DRAINER = "trap 'sleep 0.5; exit 0' TERM; : > \"$0/$$\"; sleep 60 & wait"
STUBBORN = "trap '' TERM; : > \"$0/$$\"; sleep 60 & wait; sleep 60"  # ignores SIGTERM
CRASHER = ["sh", "-c", "exit 3"]


def trapping(script, ready_dir):
    """argv of a stand-in running `script`, with `ready_dir` as its $0."""
    ready_dir.mkdir(exist_ok=True)
    return ["sh", "-c", script, str(ready_dir)]


def wait_for_traps(ready_dir, count):
    wait_until(lambda: len(list(ready_dir.iterdir())) == count, timeout=10,
               interval=0.02, message=f"{count} stand-ins to set their SIGTERM trap")


@pytest.fixture
def backends(tmp_path):
    made = []

    def make(argv, **options):
        options.setdefault("stop_timeout_s", SCALER.default["local"]["stop_timeout_s"])
        backend = LocalBackend(argv, log_dir=str(tmp_path), **options)
        made.append(backend)
        return backend
    yield make
    for backend in made:
        for replica in backend.replicas + backend.draining:
            if replica.alive:
                replica.proc.kill()
                replica.proc.wait()


def test_scale_down_drains_the_newest_and_counts_only_serving_replicas(backends, tmp_path):
    backend = backends(trapping(DRAINER, tmp_path / "ready"))
    backend.scale(3)
    oldest = backend.replicas[0]
    wait_for_traps(tmp_path / "ready", 3)
    backend.scale(1)
    assert backend.running() == 1 and backend.replicas == [oldest]
    states = [r["state"] for r in backend.describe()["replicas"]]
    assert sorted(states) == ["draining", "draining", "running"]
    going = list(backend.draining)
    wait_until(lambda: (backend.running(), not backend.draining)[1], timeout=10)
    assert [r.proc.returncode for r in going] == [0, 0]   # exited on their own
    assert [r["state"] for r in backend.describe()["replicas"]] == ["running"]


def test_a_replica_still_draining_after_the_timeout_is_killed(backends, tmp_path):
    backend = backends(trapping(STUBBORN, tmp_path / "ready"), stop_timeout_s=0.5)
    backend.scale(1)
    (replica,) = backend.replicas
    wait_for_traps(tmp_path / "ready", 1)
    backend.scale(0)
    wait_until(lambda: (backend.running(), replica.proc.poll())[1] is not None, timeout=10)
    assert replica.proc.returncode == -signal.SIGKILL


def test_a_crashing_replica_is_replaced_after_a_growing_pause(backends):
    backend = backends(CRASHER)
    backend.scale(1)
    first = backend.replicas[0]
    first.proc.wait()
    backend.scale(1)                       # reaps it: an early death, 1 s pause
    assert backend.replicas == [] and backend.early_deaths == 1
    started = time.monotonic()
    wait_until(lambda: backend.scale(1) or backend.replicas, timeout=10)
    assert time.monotonic() - started >= 0.9
    backend.replicas[0].proc.wait()
    backend.scale(1)
    assert backend.early_deaths == 2 and backend.no_start_before - time.monotonic() > 1.5


class Refusing:
    def running(self):
        return 1

    def scale(self, replicas):
        raise OSError("no more processes")

    def describe(self):
        return {}


def test_a_refused_scale_is_recorded_and_changes_nothing():
    stats = QueueStats("q", ready=100, unacked=0, consumers=1, source="amqp")
    policy = Policy(**{**BASE, "min_replicas": 0, "max_replicas": 4,
                       "target_backlog_per_replica": 10, "scale_down_stabilization_s": 60})
    scaler = Scaler(policy, lambda: stats, Refusing(), clock=lambda: 0.0)
    assert scaler.tick() is None
    assert "scaling to 3: OSError: no more processes" in scaler.last_error
    assert scaler.state.desired is None and scaler.changes == 0
