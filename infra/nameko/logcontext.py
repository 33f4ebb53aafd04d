"""`LogContext`: every worker logs with the job's context.

In `worker_setup` (which Nameko runs in the worker's own greenlet) it binds
the fields found in the worker's context data (trace id, job id, task index,
user id, sent by the gateway and carried on by Nameko through RPC, events
and published messages) and the service's name; `worker_teardown` clears
them. A worker that learns more (the converter learns the job and task from
its message) calls `self.log_context.bind(...)`, which also puts the fields
in the worker's context data, so the events and messages it sends carry them.
"""
from nameko.extensions import DependencyProvider

from infra.logs import context


class _Binder:
    def __init__(self, worker_ctx):
        self._worker_ctx = worker_ctx

    def bind(self, **fields):
        context.bind(**fields)
        self._worker_ctx.data.update(context.to_nameko(fields))


class LogContext(DependencyProvider):
    def worker_setup(self, worker_ctx):
        context.clear()
        context.bind(service=worker_ctx.service_name, **context.from_nameko(worker_ctx.data))

    def worker_teardown(self, worker_ctx):
        context.clear()

    def get_dependency(self, worker_ctx):
        return _Binder(worker_ctx)
