"""`local` backend: converter worker processes on this machine.

Each replica is a `python -m infra.runner ... services.converter.service`
child process (`nameko run`, see infra/runner.py).
Scaling down sends SIGTERM to the newest replica: Nameko's graceful stop
cancels its consumer first (it takes no new task) and exits once the tasks
it holds are acknowledged, so nothing is lost and nothing is requeued. Until
it has exited the replica is "draining" and does not count as running.

Children get SIGTERM if the scaler itself dies (PR_SET_PDEATHSIG), so a
killed scaler leaves no converter behind; they drain like any other.

A replica still draining after `stop_timeout_s` (a stuck conversion) is
SIGKILLed: RabbitMQ then redelivers what it held. A replica that dies on its
own is replaced, but after a growing pause when replicas keep dying (a bad
environment must not fork a process every poll).
"""
import ctypes
import logging
import os
import shlex
import signal
import subprocess
import sys
import time

from infra.config import config_path
from infra.config.schema import CONVERTER, CONVERTER_WORKERS_ENV, SCALER, read
from scaler.backends.base import Backend

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
RESTART_BACKOFF_S = (1, 2, 4, 8, 16, 32, 60)   # after 1, 2, 3... early deaths in a row
HEALTHY_AFTER_S = 60                           # a replica that lived this long resets it


def _die_with_parent():  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the scaler's close() still stops its children


class Replica:
    def __init__(self, number, proc, log_path):
        self.number = number
        self.proc = proc
        self.log_path = log_path
        self.started = time.time()
        self.draining_since = None

    @property
    def alive(self):
        return self.proc.poll() is None

    def to_dict(self):
        state = "draining" if self.draining_since else "running"
        return {"id": f"local-{self.number}", "pid": self.proc.pid, "state": state,
                "started": self.started, "log": self.log_path}


class LocalBackend(Backend):
    name = "local"

    def __init__(self, argv, log_dir, stop_timeout_s, env=None):
        self.argv = list(argv)
        self.env = {**os.environ, **{k: str(v) for k, v in (env or {}).items()}}
        self.log_dir = log_dir
        self.stop_timeout_s = stop_timeout_s
        self.replicas = []     # serving, oldest first
        self.draining = []     # sent SIGTERM, not yet exited
        self.started_total = 0
        self.early_deaths = 0          # replicas in a row that died young
        self.no_start_before = 0.0     # monotonic; the restart back-off

    @classmethod
    def from_config(cls, config, settings):
        local = SCALER.resolve(settings)["local"]
        argv = shlex.split(local["command"].format(config=config_path(), python=sys.executable))
        # replicas read the same config.yaml; `env` overrides its ${VARs} for
        # them, and they run the sandboxes the scaler and fair sharing count on
        env = {**local["env"], CONVERTER_WORKERS_ENV: read(config, CONVERTER)["workers"]}
        return cls(argv, env=env, log_dir=local["log_dir"], stop_timeout_s=local["stop_timeout_s"])

    def running(self):
        self._reap()
        return len(self.replicas)

    def scale(self, replicas):
        self._reap()
        while len(self.replicas) < replicas and time.monotonic() >= self.no_start_before:
            self._start()
        while len(self.replicas) > replicas:
            self._drain(self.replicas.pop())  # the newest goes first

    def describe(self):
        self._reap()
        return {"backend": self.name, "command": self.argv,
                "replicas": [r.to_dict() for r in self.replicas + self.draining]}

    def close(self):
        """Drain every replica and wait for them (SIGKILL past stop_timeout_s)."""
        for replica in self.replicas:
            self._drain(replica)
        self.replicas = []
        deadline = time.monotonic() + self.stop_timeout_s
        for replica in self.draining:
            try:
                replica.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("replica %s ignored SIGTERM; killing it", replica.number)
                replica.proc.kill()
                replica.proc.wait()
        self.draining = []

    # --- internals ---

    def _start(self):
        self.started_total += 1
        number = self.started_total
        os.makedirs(self.log_dir, exist_ok=True)
        log_path = os.path.join(self.log_dir, f"converter-{number}.log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(self.argv, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        replica = Replica(number, proc, log_path)
        replica.started_mono = time.monotonic()
        self.replicas.append(replica)
        log.info("started converter replica %s (pid %s)", number, proc.pid)

    def _drain(self, replica):
        replica.draining_since = time.time()
        replica.drain_deadline = time.monotonic() + self.stop_timeout_s
        if replica.alive:
            replica.proc.send_signal(signal.SIGTERM)
        self.draining.append(replica)
        log.info("draining converter replica %s (pid %s)", replica.number, replica.proc.pid)

    def _reap(self):
        for replica in [r for r in self.replicas if not r.alive]:
            # died on its own: RabbitMQ redelivers what it held; scale() replaces it
            self.replicas.remove(replica)
            if time.monotonic() - replica.started_mono < HEALTHY_AFTER_S:
                self.early_deaths += 1
            else:
                self.early_deaths = 0
            pause = RESTART_BACKOFF_S[min(self.early_deaths, len(RESTART_BACKOFF_S)) - 1] \
                if self.early_deaths else 0
            self.no_start_before = time.monotonic() + pause
            log.warning("converter replica %s exited with %s; replacing it in %ss",
                        replica.number, replica.proc.returncode, pause)
        for replica in [r for r in self.draining
                        if r.alive and time.monotonic() > r.drain_deadline]:
            log.warning("converter replica %s still draining after %ss: killing it "
                        "(RabbitMQ redelivers what it held)", replica.number, self.stop_timeout_s)
            replica.proc.kill()
        for replica in [r for r in self.draining if not r.alive]:
            log.info("converter replica %s drained and exited (%s)", replica.number,
                     replica.proc.returncode)
            self.draining.remove(replica)
