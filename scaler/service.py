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
from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.timer import Timer

from convertix.contract import CONVERTER_SERVICE, JOBS_SERVICE, SCALER_SERVICE, TASK_SUCCEEDED
from infra.config.schema import SCALER, read
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
    log_context = LogContext()  # the event's job and trace, on the scaler's lines

    @PollTimer.decorator()
    def poll(self):
        self.scaler.tick(pending=self._pending_work())

    @rpc
    def status(self):
        return self.scaler.status()

    @event_handler(CONVERTER_SERVICE, TASK_SUCCEEDED)
    def learn(self, payload):
        """Each finished conversion teaches the cost model its price."""
        self.log_context.bind(job_id=payload.get("job_id"), task_index=payload.get("index"))
        fmt = (payload.get("output") or {}).get("format")
        self.scaler.cost.observe(fmt, (payload.get("input") or {}).get("bytes") or 0,
                                 payload.get("duration_s"))
        # info: a job's lines in the log search include the scaler's (what
        # its conversion taught the model; tests/scaling/test_system_with_scaler.py)
        log.info("cost model: task %s/%s to %s took %ss; %s now costs %.3f s per input MB",
                 payload.get("job_id"), payload.get("index"), fmt, payload.get("duration_s"),
                 fmt, self.scaler.cost.rate(fmt))

    def _pending_work(self):
        """The unfinished tasks by output format: the backlog counts those fair
        sharing keeps off the queue, and the cost model prices them."""
        try:
            with eventlet.Timeout(PENDING_WORK_TIMEOUT_S):
                return [PendingGroup.from_dict(g) for g in self.jobs.pending_work()]
        except (eventlet.Timeout, Exception) as exc:  # noqa: B014 (Timeout is a BaseException)
            log.warning("scaler: no estimate of the backlog's work (%s); counting tasks", exc)
            return None
