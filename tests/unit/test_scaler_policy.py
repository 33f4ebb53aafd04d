"""The scaling policy as a table: each case is a run of observations and the
replica counts the policy must ask for, one per observation."""
import pytest

from infra.config.schema import SCALER, ConfigError
from scaler.policy import DOWN, HOLD, UP, Observation, Policy, State, decide, wanted_replicas
from scaler.provider import policy_from

# every key stated: a Policy has no defaults of its own (they are config.yaml's)
BASE = dict(min_replicas=1, max_replicas=8, target_backlog_per_replica=10,
            target_work_s_per_replica=0, scale_up_step=2, scale_down_stabilization_s=30,
            poll_interval_s=5, activation_backlog=0, max_sandboxes=0, replica_startup_s=0)


def run(policy, steps, replicas=None):
    """steps: (t, ready, unacked[, work_s]); replicas follow the decisions
    (the backend did what it was asked) unless given."""
    state, out, reasons = State(), [], []
    running = replicas if replicas is not None else policy.min_replicas
    for step in steps:
        t, ready, unacked, *work = step
        obs = Observation(now=t, ready=ready, unacked=unacked, replicas=running,
                          consumers=running, work_s=work[0] if work else None)
        decision = decide(policy, state, obs)
        state = decision.state
        running = decision.desired
        out.append(decision.desired)
        reasons.append(decision.reason)
    return out, reasons


def every(seconds, *loads, start=0):
    """Observations `seconds` apart: loads are (ready, unacked[, work_s])."""
    return [(start + i * seconds, *load) for i, load in enumerate(loads)]


CASES = {
    # name: (policy overrides, observations, expected desired per observation)
    "steady idle stays at min":
        ({}, every(5, (0, 0), (0, 0), (0, 0)), [1, 1, 1]),
    "spike scales up by the step each poll until the load is met":
        ({}, every(5, (300, 2), (290, 6), (280, 10), (270, 14)), [3, 5, 7, 8]),
    "spike is clamped to max":
        ({"scale_up_step": 100}, every(5, (1000, 0)), [8]),
    "a big step goes straight to what the load asks for":
        ({"scale_up_step": 10}, every(5, (35, 0)), [4]),
    "unacked messages count: busy workers are not scaled away":
        ({"replicas": 4}, every(5, (0, 40), (0, 40), (0, 40), (0, 40), (0, 40), (0, 40), (0, 40)),
         [4, 4, 4, 4, 4, 4, 4]),
    "drain: down only after the window, then to what the window asked for":
        ({"replicas": 4}, every(10, (40, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)),
         [4, 4, 4, 1, 1, 1]),
    "drain to a partial load keeps the replicas that load needs":
        ({"replicas": 6}, every(10, (60, 0), (15, 5), (15, 5), (15, 5), (15, 5)),
         [6, 6, 6, 2, 2]),
    "idle to zero when min is 0":
        ({"min_replicas": 0, "replicas": 2}, every(10, (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)),
         [2, 2, 2, 0, 0]),
    "from zero: one task wakes one replica at once":
        ({"min_replicas": 0, "replicas": 0}, every(5, (0, 0), (1, 0)), [0, 1]),
    "activation backlog: a trickle below it does not wake a replica":
        ({"min_replicas": 0, "replicas": 0, "activation_backlog": 3},
         every(5, (2, 0), (3, 0), (4, 0)), [0, 0, 1]),
    "oscillating load never flaps":
        ({"replicas": 3}, every(5, (30, 0), (5, 0), (30, 0), (5, 0), (30, 0), (5, 0), (30, 0),
                               (5, 0), (30, 0)),
         [3, 3, 3, 3, 3, 3, 3, 3, 3]),
    "oscillating around a boundary goes up once and stays":
        ({}, every(5, (10, 0), (11, 0), (10, 0), (11, 0), (10, 0), (11, 0), (10, 0)),
         [1, 2, 2, 2, 2, 2, 2]),
    "cooldown: a new spike inside the window cancels the pending scale-down":
        ({"replicas": 4}, every(10, (40, 0), (0, 0), (0, 0), (40, 0), (0, 0), (0, 0), (0, 0),
                               (0, 0)),
         [4, 4, 4, 4, 4, 4, 1, 1]),
    "scale-down goes in one step to the window's highest ask":
        ({"replicas": 8}, every(10, (80, 0), (30, 0), (20, 0), (10, 0), (10, 0), (10, 0)),
         [8, 8, 8, 3, 2, 1]),
    "zero window scales down at once":
        ({"replicas": 5, "scale_down_stabilization_s": 0}, every(5, (50, 0), (10, 0), (0, 0)),
         [5, 1, 1]),
    "a restarted scaler keeps what runs for one window":
        ({"replicas": 5}, every(10, (0, 0), (0, 0), (0, 0), (0, 0)), [5, 5, 5, 1]),
    "min above the load keeps min":
        ({"min_replicas": 2, "replicas": 2}, every(10, (0, 0), (5, 0)), [2, 2]),
    "replicas above max (config lowered) come down to max":
        ({"max_replicas": 3, "replicas": 6}, every(5, (100, 0)), [3]),
    "work mode: few heavy tasks ask for more than their count would":
        ({"target_work_s_per_replica": 20}, every(5, (4, 0, 90.0)), [3]),
    "work mode: many cheap tasks ask for fewer":
        ({"target_work_s_per_replica": 20, "replicas": 1}, every(5, (200, 0, 15.0)), [1]),
    "work mode falls back to counts when no estimate is known":
        ({"target_work_s_per_replica": 20}, every(5, (25, 0)), [3]),
    # rule 6: the sandbox cap (replicas x workers per replica <= max_sandboxes)
    "2 cores, 2 workers per replica: one replica however long the queue":
        ({"max_sandboxes": 2, "workers_per_replica": 2}, every(5, (300, 0), (300, 0)), [1, 1]),
    "4 cores, 1 worker per replica: up to 4":
        ({"max_sandboxes": 4, "scale_up_step": 10}, every(5, (300, 0)), [4]),
    "an odd cap rounds down to whole replicas":
        ({"max_sandboxes": 5, "workers_per_replica": 2, "scale_up_step": 10}, every(5, (300, 0)),
         [2]),
    "replicas over the cap (cores taken away) come down to it":
        ({"max_sandboxes": 2, "workers_per_replica": 2, "replicas": 3}, every(5, (300, 0)), [1]),
    "a cap below one replica's workers still runs one":
        ({"max_sandboxes": 1, "workers_per_replica": 2, "min_replicas": 0, "replicas": 0},
         every(5, (5, 0)), [1]),
    "min above the cap is what was configured: min wins":
        ({"max_sandboxes": 2, "workers_per_replica": 2, "min_replicas": 2, "replicas": 2},
         every(5, (300, 0)), [2]),
    # rule 7: a replica's start-up time
    "work the running replica finishes before a new one consumes adds none":
        ({"replica_startup_s": 10}, every(5, (24, 0, 6.0), (12, 0, 3.0)), [1, 1]),
    "work that outlasts the start-up adds replicas":
        ({"replica_startup_s": 10}, every(5, (24, 0, 60.0)), [3]),
    "two workers per replica drain twice as fast":
        ({"replica_startup_s": 10, "workers_per_replica": 2}, every(5, (24, 0, 16.0)), [1]),
    "the cap bounds the drain rate too":
        ({"replica_startup_s": 10, "workers_per_replica": 2, "max_sandboxes": 1,
          "replicas": 1}, every(5, (24, 0, 16.0)), [1]),
    "from zero one replica starts whatever its start-up":
        ({"replica_startup_s": 10, "min_replicas": 0, "replicas": 0}, every(5, (1, 0, 0.1)), [1]),
    "without an estimate of the work it scales on counts":
        ({"replica_startup_s": 10}, every(5, (24, 0)), [3]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_policy_table(name):
    overrides, steps, expected = CASES[name]
    overrides = dict(overrides)
    replicas = overrides.pop("replicas", None)
    policy = Policy(**{**BASE, **overrides})
    got, reasons = run(policy, steps, replicas=replicas)
    assert got == expected, "\n".join(reasons)


def test_steady_load_settles_with_no_changes():
    """A load of 24-31 tasks: after settling, 100 polls change nothing."""
    policy = Policy(**BASE)
    loads = [(20 + (i % 3) * 3, 4 + (i % 2)) for i in range(120)]
    got, _ = run(policy, every(5, *loads))
    changes = sum(1 for a, b in zip(got[20:], got[21:]) if a != b)
    assert changes == 0 and got[-1] == 4


def test_directions_and_reasons():
    policy = Policy(**BASE)
    up = decide(policy, State(), Observation(0, ready=100, unacked=0, replicas=1))
    assert (up.direction, up.desired) == (UP, 3)
    assert "scale up 1 -> 3 (limited by scale_up_step)" in up.reason
    assert "backlog 100 (ready 100, unacked 0)" in up.reason
    hold = decide(policy, up.state, Observation(10, ready=0, unacked=0, replicas=3))
    assert hold.direction == HOLD and "stabilization" in hold.reason
    down = decide(policy, hold.state, Observation(41, ready=0, unacked=0, replicas=3))
    assert down.direction == DOWN and down.desired == 1
    assert "scale down 3 -> 1" in down.reason


def test_wanted_ignores_history():
    policy = Policy(**BASE)
    assert wanted_replicas(policy, Observation(0, ready=95, unacked=0, replicas=1)) == 10


@pytest.mark.parametrize("bad", [
    {"min_replicas": 5, "max_replicas": 2},
    {"min_replicas": -1},
    {"target_backlog_per_replica": 0},
    {"scale_up_step": 0},
    {"poll_interval_s": 0},
    {"max_sandboxes": -1},
    {"workers_per_replica": 0},
    {"replica_startup_s": -1},
])
def test_policy_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        Policy(**{**BASE, **bad})


def test_from_config_converts_and_refuses_unknown_keys():
    policy = policy_from({"backend": "swarm", "min_replicas": "0", "max_replicas": "3",
                          "scale_down_stabilization_s": "15"})
    assert (policy.min_replicas, policy.max_replicas, policy.scale_down_stabilization_s) == (0, 3, 15.0)
    with pytest.raises(ConfigError, match="SCALER.max_replica: unknown key"):
        policy_from({"max_replica": 3})
    with pytest.raises(ConfigError, match=r"SCALER: min_replicas \(5\) must be at most max_replicas \(2\)"):
        policy_from({"min_replicas": 5, "max_replicas": 2})


def test_the_scalers_defaults_are_the_schemas():
    """config.yaml's 1 and 8, not the 0 and 10 an older Policy had."""
    policy = policy_from({"backend": "swarm"})
    assert (policy.min_replicas, policy.target_backlog_per_replica) == (1, 8)
    assert {field: getattr(policy, field) for field in BASE} == \
        {field: SCALER.default[field] for field in BASE}


def test_start_up_hold_says_why():
    policy = Policy(**{**BASE, "replica_startup_s": 10})
    hold = decide(policy, State(), Observation(0, ready=24, unacked=0, replicas=1, work_s=6.0))
    assert hold.direction == HOLD and hold.desired == 1
    assert "before a new replica would consume (10s start-up)" in hold.reason


def test_tasks_kept_off_the_queue_count_as_backlog():
    """Fair sharing keeps most of one user's tasks unpublished: the queue holds
    2 messages, the jobs service counts 60 unfinished; the scaler sees 60."""
    policy = Policy(min_replicas=1, max_replicas=10, target_backlog_per_replica=10,
                    target_work_s_per_replica=0, scale_up_step=10,
                    scale_down_stabilization_s=60, poll_interval_s=1, activation_backlog=0,
                    max_sandboxes=0, replica_startup_s=0)
    queue_only = Observation(0, ready=0, unacked=2, replicas=1)
    with_jobs = Observation(0, ready=0, unacked=2, replicas=1, pending=60)
    assert wanted_replicas(policy, queue_only) == 1
    assert wanted_replicas(policy, with_jobs) == 6
    # messages the jobs service does not know of (a redelivery) still count
    assert Observation(0, ready=30, unacked=2, replicas=1, pending=5).backlog == 32
