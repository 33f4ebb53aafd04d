"""The scaler's Policy from config: the sandbox cap follows the machine for
the local backend, and is what was configured otherwise."""
import pytest

from scaler.provider import policy_from


@pytest.mark.parametrize("settings, cores, expected", [
    # local: sandboxes per replica are its workers; the cap defaults to the cores
    ({"backend": "local", "local": {"worker_max_workers": "2"}}, 2, (2, 2, 1)),
    ({"backend": "local", "local": {"worker_max_workers": 1}}, 4, (4, 1, 4)),
    ({"local": {"worker_max_workers": 2}, "max_sandboxes": "0"}, 8, (8, 2, 4)),
    # configured: kept, even above the cores
    ({"backend": "local", "local": {"worker_max_workers": 2}, "max_sandboxes": 6}, 2, (6, 2, 3)),
    # swarm: replicas run elsewhere, no cap from this machine
    ({"backend": "swarm", "swarm": {}}, 2, (0, 1, 4)),
])
def test_policy_from_config_sets_the_sandbox_cap(settings, cores, expected):
    policy = policy_from({"max_replicas": 4, **settings}, cores=cores)
    assert (policy.max_sandboxes, policy.workers_per_replica, policy.upper) == expected
