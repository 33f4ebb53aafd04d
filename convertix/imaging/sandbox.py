"""Run conversions in a child process (worker.py): a crash, a runaway decoder
or a memory blow-up costs the child, never the caller.

Works the same in a plain process and under eventlet.monkey_patch(): it uses
only subprocess.Popen, os.read/os.write on the pipe fds and select.select
with a deadline, all of which eventlet replaces with cooperative versions.
One Sandbox serves one conversion at a time; use one per greenthread/thread.
"""
import fcntl
import logging
import os
import subprocess
import sys
import time

from convertix.errors import ConversionTimeout

from . import protocol, reply
from .confine import DEFAULT_MAX_FILE_MB, DEFAULT_MAX_OPEN_FILES, DEFAULT_MEMORY_MB, DEFAULT_USER
from .limits import Limits

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60
# Progress frames the child may send before its reply (convert.py's on_stage).
CHILD_STAGES = ("transform", "encode")

# The child's whole environment: nothing of ours (CONVERTIX_JWT_SECRET, the
# AMQP and database URLs) is passed on. One engine thread, few malloc arenas,
# so that RLIMIT_AS measures image memory rather than per-thread reservations.
CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
             "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}


class SandboxCrashed(RuntimeError):
    """The worker died mid-conversion (crash, OOM kill, EOF)."""

    def __init__(self, message, returncode=None):
        super().__init__(message)
        self.returncode = returncode


def _project_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Sandbox:
    def __init__(self, memory_mb=DEFAULT_MEMORY_MB, python=sys.executable, user=DEFAULT_USER,
                 max_file_mb=DEFAULT_MAX_FILE_MB, max_open_files=DEFAULT_MAX_OPEN_FILES,
                 module="convertix.imaging.worker", trace_syscalls=False):
        self.memory_mb = memory_mb
        self.python = python
        self.user = user
        self.max_file_mb = max_file_mb
        self.max_open_files = max_open_files
        self.module = module  # tests run a probe here, confined the same way
        # scripts/trace-sandbox-syscalls.py: the filter logs what it would refuse
        self.trace_syscalls = trace_syscalls
        self.confinement = None  # what the child could not do, from its ready frame
        self._proc = None
        self.clock = None  # (began, ended) of the last request, the child's own clock

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        """Spawn the worker and wait for its ready frame; RuntimeError if it is not ready."""
        self.close()
        env = dict(CHILD_ENV, PYTHONPATH=_project_root())
        self._proc = subprocess.Popen(
            [self.python, "-m", self.module, "--memory-mb", str(self.memory_mb),
             "--user", self.user or "", "--max-file-mb", str(self.max_file_mb),
             "--max-open-files", str(self.max_open_files)]
            + (["--trace-syscalls"] if self.trace_syscalls else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
            env=env, close_fds=True, bufsize=0)
        _widen(self._proc.stdin, self._proc.stdout)
        try:
            header, _ = protocol.read_frame(self._proc.stdout.fileno(),
                                            time.monotonic() + READY_TIMEOUT_S, max_payload=0)
        except (protocol.FrameEOF, protocol.FrameTimeout, ValueError) as exc:
            self._kill()
            raise RuntimeError(f"converter worker did not start: {exc}") from exc
        if not header.get("ready"):
            self._kill()
            raise RuntimeError(f"converter worker not ready: {header.get('error')}")
        self.confinement = header.get("degraded") or []
        if self.confinement:
            log.warning("sandbox %s runs with less confinement: %s", self._proc.pid,
                        "; ".join(map(str, self.confinement)))

    def close(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # EOF: the worker exits cleanly
            proc.wait(timeout=5)
        except Exception:
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()

    def discard(self):
        """Kill the child now; the next convert() starts a fresh one."""
        self._kill()

    def _kill(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        proc.kill()
        rc = proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_past_stages(self, deadline, limits, on_stage):
        """The reply frame, after at most one frame per stage, in order."""
        stages = list(CHILD_STAGES)
        while True:
            header, payload = protocol.read_frame(self._proc.stdout.fileno(), deadline,
                                                  reply.max_payload(limits, self.memory_mb))
            if "stage" not in header:
                return header, payload
            stage = header["stage"]
            if stage not in stages or payload:
                raise reply.MalformedReply(f"unexpected progress frame {stage!r}")
            del stages[:stages.index(stage) + 1]
            if on_stage is not None:
                on_stage(stage)

    # -- work --------------------------------------------------------------
    def convert(self, data, options, limits=Limits(), timeout_s=60, on_stage=None):
        """Convert in the worker; raise ConvertixErrors, ConversionTimeout or SandboxCrashed.

        `on_stage(name)` hears the child's progress frames (CHILD_STAGES, in order).
        """
        if self._proc is None or self._proc.poll() is not None:
            self.start()
        deadline = time.monotonic() + timeout_s
        limits = limits if isinstance(limits, Limits) else Limits.from_dict(limits)
        try:
            protocol.write_frame(self._proc.stdin.fileno(),
                                 {"options": options, "limits": limits.to_dict(),
                                  "cpu_s": timeout_s}, data)
            header, payload = self._read_past_stages(deadline, limits, on_stage)
            # The child's monotonic clock when the request arrived and the
            # reply left: how long it stood idle between two tasks.
            self.clock = _clock(header.pop("clock", None))
            # Raises the child's ConvertixError, or MalformedReply for a reply that does not fit.
            return reply.parse(header, payload, data, options, limits)
        except protocol.FrameTimeout:
            self._kill()
            raise ConversionTimeout(f"conversion took longer than {timeout_s} s",
                                    details={"timeout_s": timeout_s})
        except (protocol.FrameInvalid, reply.MalformedReply) as exc:
            # Alive but not to be believed (nor is the rest of its pipe): replace it.
            rc = self._kill()
            raise SandboxCrashed(f"converter worker sent an invalid reply and was killed: {exc}", rc) from exc
        except (protocol.FrameEOF, BrokenPipeError, ValueError) as exc:
            rc = self._kill()
            raise SandboxCrashed(f"converter worker died (exit status {rc}): {exc}", rc) from exc


def _clock(value):
    """(began, ended) as the child reported them, or None if not two numbers."""
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        return tuple(value)
    return None


PIPE_BYTES = 2**20  # Linux's default ceiling for an unprivileged process


def _widen(*pipes):
    """1 MiB pipes instead of 64 KiB: a 6 MB input then crosses in 6 writes,
    not ~90 (each a wait on the hub), and the output likewise."""
    for pipe in pipes:
        try:
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # a lower pipe-max-size: the default size works, more slowly
