"""The real converter, except that its engine raises on every task.

The dead-letter tests run it in process (integration) and as
`nameko run tests.faulty_converter:FaultyConverter` (end to end).
"""
import contextlib

from nameko.extensions import DependencyProvider

from services.converter.service import ConverterService


class _Raises:
    def convert(self, data, options, **kwargs):
        raise RuntimeError("simulated converter bug")

    @contextlib.contextmanager
    def reserve(self):  # the converter converts through a reserved sandbox
        yield self.convert

    def output_formats(self):
        return ["png", "jpeg", "webp"]

    def capabilities(self):
        return {"input": [], "output": self.output_formats(), "operations": []}


class RaisingEngine(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return _Raises()


class FaultyConverter(ConverterService):
    engine = RaisingEngine()
