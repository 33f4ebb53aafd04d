"""The scaler as a Nameko service: a timer polls, RPC reports.

    nameko run --config config.yaml scaler.service
    nameko shell --config config.yaml  ->  n.rpc.scaler.status()

Its settings are the SCALER section of config.yaml (see scaler/policy.py).
Stopping it drains the local backend's replicas; a swarm service is left
running as it is.
"""
import logging

from nameko.rpc import rpc
from nameko.timer import Timer

from convertix.config import section
from convertix.constants import SCALER_KEY, SCALER_SERVICE
from scaler.provider import ScalerProvider

log = logging.getLogger(__name__)


class PollTimer(Timer):
    """A timer whose interval is SCALER.poll_interval_s (known only at setup)."""

    def __init__(self, **kwargs):
        super().__init__(interval=None, eager=True, **kwargs)

    def setup(self):
        self.interval = float(section(self.container.config, SCALER_KEY)["poll_interval_s"])


class ScalerService:
    name = SCALER_SERVICE

    scaler = ScalerProvider()

    @PollTimer.decorator()
    def poll(self):
        self.scaler.tick()

    @rpc
    def status(self):
        return self.scaler.status()
