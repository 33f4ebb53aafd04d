"""The scaler's Policy from config: the sandbox cap follows the machine for
the local backend, and is what was configured otherwise."""
import pytest

from scaler.provider import policy_from


@pytest.mark.parametrize("settings, workers, cores, expected", [
    # local: sandboxes per replica are CONVERTER.workers; the cap defaults to the cores
    ({"backend": "local"}, 2, 2, (2, 2, 1)),
    ({"backend": "local"}, 1, 4, (4, 1, 4)),
    ({"max_sandboxes": "0"}, 2, 8, (8, 2, 4)),
    ({"backend": "local"}, None, 8, (8, 2, 4)),  # None: the schema's default, 2
    # configured: kept, even above the cores
    ({"backend": "local", "max_sandboxes": 6}, 2, 2, (6, 2, 3)),
    # swarm: replicas run elsewhere, no cap from this machine
    ({"backend": "swarm", "swarm": {}}, 2, 2, (0, 1, 4)),
])
def test_policy_from_config_sets_the_sandbox_cap(settings, workers, cores, expected):
    policy = policy_from({"max_replicas": 4, **settings}, workers, cores=cores)
    assert (policy.max_sandboxes, policy.workers_per_replica, policy.upper) == expected
