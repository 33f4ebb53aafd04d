"""The real converter, except that every conversion first waits
CONVERT_DELAY_S seconds (cooperatively, like the real wait on a sandbox).

The swarm tests run it in a Swarm service to have tasks reliably in flight
when a replica is told to stop: `nameko run tests.swarm.slow_converter:SlowConverter`.
"""
import os

import eventlet

from services.converter.engine import EnginePool
from services.converter.service import ConverterService


class _Slow:
    def __init__(self, engine, delay_s):
        self._engine, self._delay_s = engine, delay_s

    def convert(self, data, options, **kwargs):
        eventlet.sleep(self._delay_s)
        return self._engine.convert(data, options, **kwargs)

    def __getattr__(self, name):
        return getattr(self._engine, name)


class SlowEnginePool(EnginePool):
    def get_dependency(self, worker_ctx):
        return _Slow(super().get_dependency(worker_ctx), float(os.environ.get("CONVERT_DELAY_S", 3)))


class SlowConverter(ConverterService):
    engine = SlowEnginePool()


