"""`python -m infra.runner --config config.yaml <services>`: `nameko run`
with one race closed.

Nameko 2.14's `run` installs its SIGTERM handler before it starts the
services, so a SIGTERM during start-up (seconds for the converter, which
starts its sandbox processes) runs `stop()` alongside the unfinished
`start()`: the consumer that start-up then creates is never stopped and the
process hangs. The scaler sends exactly that signal when it drains a replica
it has just started. Here `stop()` first waits for `start()` to finish, then
stops gracefully as usual, and a second SIGTERM does not stop it twice. Everything else is nameko's own CLI.

Before nameko starts anything, the `--config` file is checked against the
schema (infra/config/schema.py): an unknown key or a bad value stops the
process at once (exit status 2) with a line naming the key, rather than a
service failing later, or running on a value nobody meant. AMQP_QUEUE_TYPE
`quorum` makes the services' durable queues quorum queues (infra/nameko/quorum.py).
"""
import eventlet

eventlet.monkey_patch()  # before kombu and friends are imported, as `nameko run` does

import sys  # noqa: E402

from eventlet.event import Event  # noqa: E402
from nameko.cli import run as nameko_run  # noqa: E402
from nameko.cli.main import main as nameko_main  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from infra import stall_watch  # noqa: E402
from infra.config import load_checked  # noqa: E402
from infra.config.schema import AMQP_QUEUE_TYPE_KEY, ConfigError, read_value  # noqa: E402
from infra.nameko import quorum  # noqa: E402

START_WAIT_S = 60  # how long a SIGTERM waits for start-up before killing


class StartThenStopRunner(ServiceRunner):
    def __init__(self, config):
        super().__init__(config)
        self._started = Event()
        self._stopping = False

    def add_service(self, cls):
        if stall_watch.folder():  # a diagnosis aid, off by default
            cls._stall_watch = stall_watch.nameko_provider()
        super().add_service(cls)

    def start(self):
        try:
            super().start()
        finally:
            self._started.send()

    def stop(self):
        # Once only: a replica may get SIGTERM twice (from `make stop` to its
        # process group, and from the scaler draining it); nameko's stop is
        # not re-entrant.
        if self._stopping:
            return
        self._stopping = True
        if self._started.wait(timeout=START_WAIT_S) is None and not self._started.ready():
            # start() is stuck (say, the broker never answers): stopping
            # gracefully is impossible, so stop the hard way
            self.kill()
            return
        super().stop()


def config_argument(argv):
    """The value of `--config PATH` or `--config=PATH` (nameko run's), or None."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.partition("=")[2]
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = config_argument(argv)
    if path is not None:
        try:
            config = load_checked(path)
        except ConfigError as exc:
            print(f"convertix: {exc}", file=sys.stderr)
            return 2
        quorum.use(read_value(config, AMQP_QUEUE_TYPE_KEY))
    nameko_run.ServiceRunner = StartThenStopRunner
    sys.argv = ["nameko", "run", *argv]
    return nameko_main()


if __name__ == "__main__":
    sys.exit(main())
