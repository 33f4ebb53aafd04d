"""The scaling decision: observations in, desired replica count and reason out.

Pure: no I/O, no clock. The loop (scaler/loop.py) feeds it one `Observation`
per poll and keeps the `State` it returns.

The rules, in the order they apply:

1. Load. The backlog is ready + unacknowledged messages: a task a worker
   holds is work too (KEDA's AMQP mode counts only ready ones and so scales
   busy workers away, kedacore/keda#5050). When the jobs service reports its
   unfinished tasks, the backlog is the larger of the two: fair sharing keeps
   most of a busy user's tasks off the queue (services/jobs/fair.py), and
   they are work all the same. With a cost model the backlog is the
   estimated CPU-seconds of that work instead of a task count.
2. Idle. A backlog at or below `activation_backlog` asks for `min_replicas`
   (0 allowed: no converter runs until work arrives).
3. Otherwise it asks for ceil(backlog / target per replica), at least 1.
4. Up at once, but by at most `scale_up_step` replicas per decision.
5. Down only to the highest count asked for during the last
   `scale_down_stabilization_s` (Kubernetes' HPA rule): the load must stay
   low for the whole window before a replica goes, so a load that oscillates
   never flaps.
6. Clamped to [min_replicas, max_replicas], and to the sandbox cap: at
   most `max_sandboxes` busy sandboxes (replicas x `workers_per_replica`).
   On one machine more sandboxes than cores convert nothing faster: they
   only take CPU from the working ones (the scaler's provider sets the cap
   to the machine's cores for the local backend unless configured).
7. Start-up counts: a replica consumes only `replica_startup_s` after it is
   asked for. When the backlog's estimated work (the cost model) drains on
   the running replicas within that time, adding one cannot help, so the
   count holds.
"""
import math
from dataclasses import dataclass, field, replace

UP, DOWN, HOLD = "up", "down", "hold"


@dataclass(frozen=True)
class Policy:
    """The rules' numbers. All but `workers_per_replica` are config.yaml's
    SCALER keys: their defaults and checks are infra/config/schema.py's, and
    scaler/provider.py's `policy_from` builds a Policy from them."""
    min_replicas: int
    max_replicas: int
    target_backlog_per_replica: float   # messages per replica
    target_work_s_per_replica: float    # > 0: target estimated CPU-seconds instead
    scale_up_step: int
    scale_down_stabilization_s: float
    poll_interval_s: float
    activation_backlog: float
    max_sandboxes: int                  # busy sandboxes at most; 0: no cap
    replica_startup_s: float            # from start to consuming
    workers_per_replica: int = 1        # sandboxes per replica (the local backend's workers)

    def __post_init__(self):
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")
        if self.target_backlog_per_replica <= 0 or self.scale_up_step < 1:
            raise ValueError("target_backlog_per_replica > 0 and scale_up_step >= 1")
        if self.poll_interval_s <= 0 or self.scale_down_stabilization_s < 0:
            raise ValueError("poll_interval_s > 0 and scale_down_stabilization_s >= 0")
        if self.max_sandboxes < 0 or self.workers_per_replica < 1 or self.replica_startup_s < 0:
            raise ValueError("max_sandboxes >= 0, workers_per_replica >= 1, replica_startup_s >= 0")

    @property
    def by_work(self):
        return self.target_work_s_per_replica > 0

    @property
    def upper(self):
        """The most replicas: max_replicas, within the sandbox cap (never below min)."""
        if not self.max_sandboxes:
            return self.max_replicas
        fits = max(1, self.max_sandboxes // self.workers_per_replica)
        return max(self.min_replicas, min(self.max_replicas, fits))

    def drain_s(self, work_s, replicas):
        """Seconds the running replicas need for `work_s` CPU-seconds."""
        sandboxes = replicas * self.workers_per_replica
        if self.max_sandboxes:
            sandboxes = min(sandboxes, self.max_sandboxes)
        return work_s / max(1, sandboxes)


@dataclass(frozen=True)
class Observation:
    now: float            # seconds, monotonic
    ready: int            # messages waiting in the queue
    unacked: int          # messages held by workers
    replicas: int         # running replicas, read back from the backend
    consumers: int = 0    # consumers on the queue (for the reason and status only)
    work_s: float = None  # estimated CPU-seconds of the backlog, when a cost model runs
    pending: int = None   # unfinished tasks (the jobs service's count), queued or not

    @property
    def backlog(self):
        return max(self.ready + self.unacked, self.pending or 0)


@dataclass(frozen=True)
class State:
    # (time, replicas asked for) within the stabilization window, oldest first
    recent: tuple = ()
    desired: int = None       # the last decision's count
    last_change: float = None


@dataclass(frozen=True)
class Decision:
    desired: int
    direction: str
    reason: str
    wanted: int               # what the load alone asks for (rules 1-3)
    state: State = field(repr=False, default=None)


def wanted_replicas(policy, obs):
    """Rules 1-3: the replica count the current load asks for."""
    load, target, unit = _load(policy, obs)
    if load <= policy.activation_backlog:
        return policy.min_replicas
    return max(1, math.ceil(load / target))


def decide(policy, state, obs):
    """One decision. Returns a Decision whose `state` the caller keeps."""
    wanted = wanted_replicas(policy, obs)
    window_start = obs.now - policy.scale_down_stabilization_s
    earlier = state.recent
    if state.desired is None:
        # first decision (a restarted scaler): what runs counts as asked for
        # now, so nothing is scaled down before a whole window has passed
        earlier = ((obs.now, obs.replicas),)
    recent = tuple((t, n) for t, n in earlier if t > window_start) + ((obs.now, wanted),)
    # rule 5: the highest ask in the window bounds any scale-down
    floor = max(n for _, n in recent)
    current = obs.replicas if state.desired is None else state.desired

    late = None
    if wanted > current:
        desired = min(wanted, current + policy.scale_up_step)
        late = _too_late(policy, obs, current)
        if late:
            desired = current
    elif floor < current:
        desired = floor
    else:
        desired = current
    clamped = min(max(desired, policy.min_replicas), policy.upper)

    direction = UP if clamped > current else DOWN if clamped < current else HOLD
    reason = _reason(policy, obs, current, wanted, floor, desired, clamped)
    if late:
        reason += f" ({late})"
    new_state = replace(state, recent=recent, desired=clamped,
                        last_change=obs.now if direction != HOLD else state.last_change)
    return Decision(clamped, direction, reason, wanted, new_state)


def _too_late(policy, obs, current):
    """Rule 7: why a new replica would start after the work is done, or None."""
    if not policy.replica_startup_s or obs.work_s is None or current < 1:
        return None
    drain = policy.drain_s(obs.work_s, current)
    if drain > policy.replica_startup_s:
        return None
    return (f"the running {current} finish ~{obs.work_s:.1f} CPU-s in ~{drain:.1f}s, before a "
            f"new replica would consume ({policy.replica_startup_s:g}s start-up)")


def _load(policy, obs):
    if policy.by_work and obs.work_s is not None:
        return obs.work_s, policy.target_work_s_per_replica, "CPU-s"
    return obs.backlog, policy.target_backlog_per_replica, "tasks"


def _reason(policy, obs, current, wanted, floor, desired, clamped):
    load, target, unit = _load(policy, obs)
    seen = (f"backlog {obs.backlog} (ready {obs.ready}, unacked {obs.unacked}"
            + (f", unfinished {obs.pending}" if obs.pending is not None else "") + ")"
            + (f", ~{obs.work_s:.1f} CPU-s" if obs.work_s is not None else "")
            + f", {obs.consumers} consumers, {obs.replicas} running")
    if load <= policy.activation_backlog:
        ask = f"idle (load {load:g} <= activation {policy.activation_backlog:g}): " \
              f"asks for min {policy.min_replicas}"
    else:
        ask = f"{load:g} {unit} / {target:g} per replica: asks for {wanted}"
    clamp = (f" (clamped {desired} to [{policy.min_replicas}, {policy.upper}])"
             if clamped != desired else "")
    if clamped > current:
        step = " (limited by scale_up_step)" if desired < wanted else ""
        verdict = f"scale up {current} -> {clamped}{step}{clamp}"
    elif clamp and clamped < current:
        verdict = f"scale down {current} -> {clamped}{clamp}"
    elif clamp:
        verdict = f"hold {current}{clamp}"
    elif clamped < current:
        verdict = f"scale down {current} -> {clamped}: nothing higher asked for in " \
                  f"the last {policy.scale_down_stabilization_s:g}s"
    elif wanted < current:
        verdict = f"hold {current}: {floor} was asked for within the last " \
                  f"{policy.scale_down_stabilization_s:g}s (stabilization)"
    else:
        verdict = f"hold {current}"
    return f"{seen}; {ask}; {verdict}"
