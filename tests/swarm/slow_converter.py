"""The real converter, except that every conversion first waits
CONVERT_DELAY_S seconds (cooperatively, like the real wait on a sandbox).

The swarm tests run it in a Swarm service to have tasks reliably in flight
when a replica is told to stop: `nameko run tests.swarm.slow_converter:SlowConverter`.
"""
import contextlib
import os

import eventlet

from services.converter.engine import EnginePool
from services.converter.service import ConverterService


class _Slow:
    def __init__(self, engine, delay_s):
        self._engine, self._delay_s = engine, delay_s

    @contextlib.contextmanager
    def reserve(self):
        """The converter converts through a reserved sandbox: the wait goes
        there, holding it, as a slow conversion would."""
        with self._engine.reserve() as convert:
            def slow(data, options, **kwargs):
                eventlet.sleep(self._delay_s)
                return convert(data, options, **kwargs)
            yield slow

    def convert(self, data, options, **kwargs):
        with self.reserve() as convert:
            return convert(data, options, **kwargs)

    def __getattr__(self, name):
        return getattr(self._engine, name)


class SlowEnginePool(EnginePool):
    def get_dependency(self, worker_ctx):
        return _Slow(super().get_dependency(worker_ctx), float(os.environ.get("CONVERT_DELAY_S", 3)))


class SlowConverter(ConverterService):
    engine = SlowEnginePool()


