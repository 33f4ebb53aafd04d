"""The conversion engine as a nameko dependency: a pool of sandbox processes.

Image work is CPU-bound and decoders meet hostile input, so it never runs on
this process's eventlet hub: each conversion goes to a child process
(`convertix.imaging.worker`) with a memory limit, and is waited on
cooperatively with a deadline. The hub stays free for AMQP heartbeats and the
other workers; a decoder that crashes or loops takes down only its child,
which is replaced.

One child per sandbox: CONVERTER.workers of them, whatever the top-level
`max_workers` says for the other services (the scaler and fair sharing count
on that one key). The converter holds a few more tasks than it has sandboxes
(CONVERTER.tasks_ahead_per_sandbox; its nameko workers and prefetch are set in
infra/nameko/queues.py `widen`): those wait in `reserve()`, input read, and
take the first sandbox to free.
"""
import contextlib
import logging
import os

from eventlet import GreenPool, tpool
from eventlet.queue import LightQueue
from nameko.extensions import DependencyProvider

from convertix.errors import ConvertixError
from convertix.imaging import Limits, capabilities
from convertix.imaging.sandbox import Sandbox, SandboxCrashed
from infra.config.schema import CONVERTER, LIMITS, read

log = logging.getLogger(__name__)


class Engine:
    """What a worker sees: `convert(data, options)`, or `reserve()` a
    sandbox first and convert with it."""

    def __init__(self, pool):
        self._pool = pool
        self.last_run = None  # {"sandbox", "began", "ended"} of this worker's last conversion

    @contextlib.contextmanager
    def reserve(self):
        """A free sandbox, held for the block: yields convert(data, options,
        on_stage=None). A prefetched task waits here with its input read, so
        it starts the moment a sandbox frees (docs/DESIGN.md "Keeping
        converters fed")."""
        slot = self._pool.idle.get()
        sandbox = self._pool.sandboxes[slot]

        def convert(data, options, on_stage=None):
            sandbox.clock = None
            try:
                return sandbox.convert(data, options, self._pool.limits, self._pool.timeout_s,
                                       on_stage=on_stage)
            except (ConvertixError, SandboxCrashed):
                raise  # the sandbox already answered, or was already replaced
            except BaseException:
                # Interrupted mid-call (worker killed, eventlet timeout): its reply
                # is still unread, so this child must not serve the next task.
                sandbox.discard()
                raise
            finally:
                if sandbox.clock:
                    self.last_run = {"sandbox": f"{self._pool.name}/{slot}",
                                     "began": sandbox.clock[0], "ended": sandbox.clock[1]}
        convert.sandbox = sandbox  # the one it converts with (a test kills it mid-task)
        try:
            yield convert
        finally:
            self._pool.idle.put(slot)

    def convert(self, data, options, on_stage=None):
        with self.reserve() as convert:
            return convert(data, options, on_stage=on_stage)

    def capabilities(self):
        return self._pool.capabilities

    def output_formats(self):
        return self._pool.capabilities["output"]


def _started(sandbox):
    sandbox.start()
    return sandbox


class EnginePool(DependencyProvider):
    def setup(self):
        config = self.container.config
        settings = read(config, CONVERTER)
        self.timeout_s = settings["timeout_s"]
        self.limits = Limits.from_dict(read(config, LIMITS))  # its conversion bounds
        size = settings["workers"]
        # Probing the encoders takes a moment of CPU: off the hub, once.
        self.capabilities = tpool.execute(capabilities)
        self.sandboxes = [Sandbox(memory_mb=settings["memory_mb"], user=settings["sandbox_user"],
                                  max_file_mb=settings["sandbox_max_file_mb"],
                                  max_open_files=settings["sandbox_max_open_files"])
                          for _ in range(size)]
        self.idle = LightQueue()  # indices of the free sandboxes
        self.name = f"{os.uname().nodename}:{os.getpid()}"  # names the sandboxes in events
        # Started side by side; start() raises (and the service refuses to
        # start) if a child is not ready, e.g. when the ImageMagick policy
        # check fails.
        for slot, _ in enumerate(GreenPool(size).imap(_started, self.sandboxes)):
            self.idle.put(slot)
        log.info("engine pool: %d sandbox processes", size)

    def stop(self):
        self._close()

    def kill(self):
        self._close()

    def _close(self):
        for sandbox in getattr(self, "sandboxes", []):
            sandbox.close()

    def get_dependency(self, worker_ctx):
        return Engine(self)
