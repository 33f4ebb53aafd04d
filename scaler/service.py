"""The scaler as a Nameko service: a timer polls, RPC reports.

    nameko run --config config.yaml scaler.service
    nameko shell --config config.yaml  ->  n.rpc.scaler.status()

Its settings are the SCALER section of config.yaml (infra/config/schema.py;
the rules: scaler/policy.py).
Stopping it drains the local backend's replicas; a swarm service is left
running as it is.
"""
import logging

import eventlet
from nameko.rpc import RpcProxy, rpc
from nameko.timer import Timer

from convertix.contract import JOBS_SERVICE, SCALER_SERVICE
from infra.config.schema import SCALER, read
from infra.logs import context
from infra.nameko.logcontext import LogContext
from scaler.cost import PendingGroup
from scaler.provider import ScalerProvider

log = logging.getLogger(__name__)
# The jobs service prices the backlog; if it does not answer in time the
# scaler decides on message counts alone rather than stalling.
PENDING_WORK_TIMEOUT_S = 3


class PollTimer(Timer):
    """A timer whose interval is SCALER.poll_interval_s (known only at setup)."""

    def __init__(self, **kwargs):
        super().__init__(interval=None, eager=True, **kwargs)

    def setup(self):
        self.interval = read(self.container.config, SCALER)["poll_interval_s"]


class ScalerService:
    name = SCALER_SERVICE

    scaler = ScalerProvider()
    jobs = RpcProxy(JOBS_SERVICE)
    log_context = LogContext()  # the service's name on the scaler's lines

    @PollTimer.decorator()
    def poll(self):
        self.scaler.tick(pending=self._pending_work())

    @rpc
    def status(self):
        return self.scaler.status()

    def learn(self, conversion):
        """A finished conversion (as the jobs service kept it: services/jobs/costs.py)
        teaches the cost model its price."""
        fmt = conversion.get("output_format")
        self.scaler.cost.observe(fmt, conversion.get("input_bytes") or 0,
                                 conversion.get("duration_s"))
        # info, with the job's context for this line only: a job's lines in
        # the log search include the scaler's (what its conversion taught the
        # model; tests/scaling/test_system_with_scaler.py)
        with context.bound(job_id=conversion.get("job_id"), task_index=conversion.get("index")):
            log.info("cost model: task %s/%s to %s took %ss; %s now costs %.3f s per input MB",
                     conversion.get("job_id"), conversion.get("index"), fmt,
                     conversion.get("duration_s"), fmt, self.scaler.cost.rate(fmt))

    def _pending_work(self):
        """The unfinished tasks by output format: the backlog counts those fair
        sharing keeps off the queue, and the cost model prices them. The same
        answer carries what the conversions finished since the last poll took,
        which the model learns first (no copy of every task event comes here)."""
        learned = self.scaler.learned  # {jobs process: last conversion learned}
        try:
            with eventlet.Timeout(PENDING_WORK_TIMEOUT_S):
                answer = self.jobs.pending_work(learned=dict(learned))
        except (eventlet.Timeout, Exception) as exc:  # noqa: B014 (Timeout is a BaseException)
            log.warning("scaler: no estimate of the backlog's work (%s); counting tasks", exc)
            return None
        for conversion in answer.get("conversions") or ():
            self.learn(conversion)
            learned[answer["source"]] = conversion["n"]
        return [PendingGroup.from_dict(g) for g in answer["pending"]]
