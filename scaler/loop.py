"""One poll of the scaler: observe, decide (scaler/policy.py), act, record.

`Scaler.tick()` is called on a timer by scaler/service.py; it holds the
policy's state between polls and keeps the last decisions for `status()`.
"""
import collections
import logging
import time

from scaler import metrics
from scaler.cost import CostModel
from scaler.policy import HOLD, Observation, State, decide

log = logging.getLogger(__name__)
HISTORY = 50


class Scaler:
    def __init__(self, policy, read_stats, backend, cost=None, clock=time.monotonic):
        """read_stats() -> infra.queue_stats.QueueStats; cost: a CostModel
        that prices the unfinished tasks when the policy targets CPU-seconds."""
        self.policy = policy
        self.read_stats = read_stats
        self.backend = backend
        self.cost = cost or CostModel()
        # what the cost model learned, per jobs process: {source: last number}
        # (services/jobs/costs.py), so that none is learned twice or missed
        self.learned = {}
        self.clock = clock
        self.state = State()
        self.last = None                  # (observation, decision, stats source)
        self.history = collections.deque(maxlen=HISTORY)
        self.changes = 0
        self.last_error = None

    def tick(self, pending=None):
        """pending: the unfinished tasks as scaler.cost.PendingGroup's, or None
        (counting messages only)."""
        try:
            stats = self.read_stats()
            work_s = self.cost.estimate(pending) if pending is not None else None
            obs = Observation(now=self.clock(), ready=stats.ready, unacked=stats.unacked,
                              replicas=self.backend.running(), consumers=stats.consumers,
                              work_s=work_s, pending=None if pending is None
                              else sum(group.count for group in pending))
        except Exception as exc:
            # The broker is restarting or the queue is not declared yet: keep
            # what runs (never scale on missing data) and try again next poll.
            self.last_error = f"{type(exc).__name__}: {exc}"
            metrics.ERRORS.inc()
            log.warning("scaler: cannot observe the queue, holding: %s", self.last_error)
            return None
        decision = decide(self.policy, self.state, obs)
        try:
            # Every poll, even a hold: a replica that died is replaced.
            self.backend.scale(decision.desired)
        except Exception as exc:
            # Docker or the OS refused: nothing changed, so keep the old state
            # and decide again next poll.
            self.last_error = f"scaling to {decision.desired}: {type(exc).__name__}: {exc}"
            metrics.ERRORS.inc()
            log.warning("scaler: %s", self.last_error)
            return None
        self.state = decision.state
        self.last_error = None
        self._record(obs, decision, stats.source)
        return decision

    def _record(self, obs, decision, source):
        metrics.record(obs, decision)
        entry = {"at": time.time(), "desired": decision.desired, "running": obs.replicas,
                 "direction": decision.direction, "reason": decision.reason}
        previous = self.last[1] if self.last else None
        if decision.direction != HOLD:
            self.changes += 1
            log.info("scaler: %s", decision.reason, extra={"scaler": entry})
        elif previous is None or previous.wanted != decision.wanted:
            log.info("scaler: %s", decision.reason, extra={"scaler": entry})
        else:
            log.debug("scaler: %s", decision.reason)
        if decision.direction != HOLD:  # the changes, for status(); holds are in `reason`
            self.history.append(entry)
        self.last = (obs, decision, source)

    def status(self):
        """JSON-able state: for RPC `scaler.status()` and the admin stats."""
        out = {"policy": vars(self.policy).copy(), "changes": self.changes,
               "last_error": self.last_error, "backend": self.backend.describe(),
               "cost_model": self.cost.to_dict(),
               "decisions": list(self.history)}
        if self.last:
            obs, decision, source = self.last
            out.update({
                "queue": {"ready": obs.ready, "unacked": obs.unacked, "backlog": obs.backlog,
                          "consumers": obs.consumers, "source": source},
                "work_s": obs.work_s, "running": obs.replicas, "desired": decision.desired,
                "reason": decision.reason,
            })
        return out

    def close(self):
        self.backend.close()
