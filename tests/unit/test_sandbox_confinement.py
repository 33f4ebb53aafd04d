"""The sandbox is a boundary: code running in the child,
as a decoder exploit would, cannot read the parent's secrets, reach the
network, fill the disk or start processes. Each test runs attacker code in a
child started exactly as the converter's (tests/sandbox_probe.py)."""
import errno
import os
import resource

import pytest

from convertix.imaging import confine
from convertix.imaging.sandbox import Sandbox
from tests.sandbox_probe import run

SECRET = "s3cret-for-the-confinement-test-0123456789"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root (CI runs as root)")


@pytest.fixture(scope="module")
def probe():
    os.environ["CONVERTIX_JWT_SECRET"] = SECRET  # what the converter's parent has
    try:
        box = Sandbox(memory_mb=1024, max_file_mb=1, module="tests.sandbox_probe")
        box.start()
    finally:
        del os.environ["CONVERTIX_JWT_SECRET"]
    yield box
    box.close()


def test_confined_in_full(probe):
    if os.geteuid() == 0:
        assert probe.confinement == []  # nothing degraded: every step below was taken


def test_child_cannot_read_the_secret(probe):
    got = run(probe, "import os\nresult = dict(os.environ)")
    assert SECRET not in str(got) and "CONVERTIX_JWT_SECRET" not in got["result"]
    assert set(got["result"]) <= {"MALLOC_ARENA_MAX", "OMP_NUM_THREADS", "PYTHONUNBUFFERED",
                                  "LANG", "PATH", "PYTHONPATH", "MAGICK_CONFIGURE_PATH", "LC_CTYPE",
                                  "WAND_MAGICK_LIBRARY_SUFFIX"}  # set by the child itself
    # nor from the parent's /proc entry
    got = run(probe, "import os\nresult = open(f'/proc/{os.getppid()}/environ', 'rb').read().decode()")
    assert got.get("raised") in ("PermissionError", "FileNotFoundError"), got


@as_root
def test_child_runs_as_a_user_of_its_own(probe):
    got = run(probe, "import os\nresult = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), os.getpid()]")
    uid, euid, gid, groups, pid = got["result"]
    assert uid == euid == gid == confine.DYNAMIC_ID_BASE + pid
    assert groups == []
    # and it cannot read what is the service user's (a 0600 file, as storage and the key are)
    got = run(probe, "result = open('/etc/shadow').read()")
    assert got["raised"] == "PermissionError"


def test_child_cannot_open_a_socket(probe):
    got = run(probe, "import socket\nresult = socket.socket(socket.AF_INET, socket.SOCK_STREAM)")
    assert (got["raised"], got["errno"]) == ("PermissionError", errno.EPERM)
    got = run(probe, "import socket\nresult = socket.socket(socket.AF_UNIX)")
    assert got["raised"] == "PermissionError"


@as_root
def test_child_has_no_network_even_without_seccomp(probe):
    # its own network namespace: only a loopback, and that one is down
    got = run(probe, "result = open('/proc/net/dev').read()")
    interfaces = [line.split(":")[0].strip() for line in got["result"].splitlines()[2:]]
    assert interfaces == ["lo"]
    got = run(probe, "result = open('/sys/class/net/lo/operstate').read().strip()")
    assert got["result"] in ("down", "unknown") or got.get("raised")


def test_child_cannot_write_a_big_file(probe):
    import pathlib
    import shutil
    import tempfile
    where = pathlib.Path(tempfile.mkdtemp(prefix="convertix-fsize-", dir="/tmp"))
    os.chmod(where, 0o777)  # a place it may write, to show the size limit
    target = where / "big"
    got = run(probe, f"f = open({str(target)!r}, 'wb')\nf.write(b'x' * (2 * 2**20))\nf.flush()\nresult = 1")
    assert (got.get("raised"), got.get("errno")) == ("OSError", errno.EFBIG), got
    assert target.stat().st_size <= 2**20
    assert run(probe, "result = 1")["result"] == 1  # SIGXFSZ did not kill it
    shutil.rmtree(where)


def test_child_cannot_fork_or_exec(probe):
    got = run(probe, "import os\nresult = os.fork()")
    assert (got["raised"], got["errno"]) == ("PermissionError", errno.EPERM)
    got = run(probe, "import subprocess\nresult = subprocess.run(['/bin/true']).returncode")
    assert got.get("raised") in ("PermissionError", "BlockingIOError", "OSError"), got
    got = run(probe, "import os\nresult = os.execv('/bin/true', ['true'])")
    assert got.get("raised") == "PermissionError"


def test_child_gains_no_privileges_and_cannot_be_inspected(probe):
    got = run(probe, "result = open('/proc/self/status').read()")
    status = dict(line.split(":\t", 1) for line in got["result"].splitlines() if ":\t" in line)
    assert status["NoNewPrivs"].strip() == "1"  # no setuid binary or file capability can raise it
    if confine.seccomp is not None:
        assert status["Seccomp"].strip() == "2"  # a filter is installed
    got = run(probe, "import ctypes\nresult = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)")
    assert got["result"] == 0  # PR_GET_DUMPABLE: no ptrace or /proc/<pid>/mem for its peers


@as_root
def test_child_threads_are_bounded(probe):
    code = ("import threading, time\nstarted = []\n"
            "try:\n"
            "    for _ in range(50):\n"
            "        t = threading.Thread(target=time.sleep, args=(1,)); t.start(); started.append(t)\n"
            "finally:\n"
            "    [t.join() for t in started]\n"
            "result = len(started)")
    got = run(probe, code)
    assert got["raised"] == "RuntimeError", got  # "can't start new thread"
    # RLIMIT_NPROC counts the process itself and its threads
    got = run(probe, "import threading\nresult = 0")
    assert "raised" not in got


def test_child_limits(probe):
    got = run(probe, "import resource as r\nresult = [r.getrlimit(getattr(r, n)) for n in "
                     "('RLIMIT_CORE', 'RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_NPROC', 'RLIMIT_AS', 'RLIMIT_CPU')]")
    core, nofile, fsize, nproc, as_, cpu = got["result"]
    assert core == [0, 0]
    assert nofile == [confine.DEFAULT_MAX_OPEN_FILES] * 2
    assert fsize == [2**20] * 2
    assert nproc == [confine.DEFAULT_MAX_THREADS] * 2
    assert as_ == [1024 * 2**20] * 2
    assert 0 < cpu[0] < 60 + confine.CPU_GRACE_S + 60 and cpu[1] == resource.RLIM_INFINITY
    got = run(probe, "import os\nresult = os.getpriority(os.PRIO_PROCESS, 0)")
    assert got["result"] == min(19, os.getpriority(os.PRIO_PROCESS, 0) + confine.SANDBOX_NICE)
    got = run(probe, "import os\nresult = [os.open('/dev/null', os.O_RDONLY) for _ in range(100)]")
    assert got["raised"] == "OSError" and got["errno"] == errno.EMFILE


def test_child_runaway_is_stopped_by_its_cpu_limit():
    # A loop that never replies, and a parent that never kills it: the kernel does.
    import signal
    from convertix.imaging import protocol
    with Sandbox(module="tests.sandbox_probe") as box:
        box.start()
        pid = box._proc.pid
        protocol.write_frame(box._proc.stdin.fileno(), {"code": "while True: pass", "cpu_s": 1})
        rc = box._proc.wait(timeout=120)  # CPU seconds: 1 + CPU_GRACE_S, on a shared machine
        assert rc == -signal.SIGXCPU, pid
        box._proc = None


def test_threads_left_unbounded_when_the_child_keeps_its_parents_user():
    # Not root (a container's uid 1000): RLIMIT_NPROC would count the parent's
    # threads and every sibling sandbox, and starve libheif's threads.
    import subprocess
    import sys
    code = ("import resource; from convertix.imaging import confine; "
            "before = resource.getrlimit(resource.RLIMIT_NPROC); "
            "d = confine.limit_resources(0, own_user=False); "
            "assert resource.getrlimit(resource.RLIMIT_NPROC) == before, d; "
            "assert any('threads unbounded' in x for x in d), d; "
            "confine.limit_resources(0, own_user=True); "
            "assert resource.getrlimit(resource.RLIMIT_NPROC)[0] == confine.DEFAULT_MAX_THREADS")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
