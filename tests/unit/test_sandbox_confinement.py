"""The sandbox is a boundary: code running in the child, as a decoder
exploit would, cannot read the parent's secrets, reach the network (not
even through io_uring), fill the disk, write outside its own tmpfs, see
other processes or start any. Each test runs attacker code in a
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
    # in its own /tmp, the one place it may write
    code = ("import os\nname = f'/tmp/big-{os.getpid()}'\n"
            "try:\n"
            "    with open(name, 'wb') as f:\n"
            "        f.write(b'x' * (2 * 2**20))\n"
            "        f.flush()\n"
            "except OSError as exc:\n"
            "    result = [exc.errno, os.path.getsize(name)]\n"
            "finally:\n"
            "    os.unlink(name)")
    got = run(probe, code)
    assert got.get("result") == [errno.EFBIG, 2**20], got
    assert run(probe, "result = 1")["result"] == 1  # SIGXFSZ did not kill it


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
    code = ("import os\nfds = []\n"
            "try:\n"
            "    while len(fds) < 100:\n"
            "        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
            "finally:\n"
            "    [os.close(fd) for fd in fds]")  # the probe serves the next tests
    got = run(probe, code)
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


def test_child_cannot_set_up_io_uring(probe):
    # io_uring's SOCKET and CONNECT operations are no socket() or connect()
    # call: a deny list let them through. An allow list refuses the ring.
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "params = ctypes.create_string_buffer(120)\n"
            "fd = libc.syscall(425, 8, params)\n"  # io_uring_setup(8, &params)
            "result = [fd, ctypes.get_errno()]")
    assert run(probe, code)["result"] == [-1, errno.EPERM]
    # and a call the filter has never heard of (the kernel's next one) alike
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "result = [libc.syscall(1000, 0, 0, 0), ctypes.get_errno()]")
    assert run(probe, code)["result"] == [-1, errno.EPERM]


def _writes(probe, folder):
    name = f"probe-{os.getpid()}-{os.urandom(4).hex()}"
    code = (f"import os\npath = os.path.join({folder!r}, {name!r})\n"
            "with open(path, 'w') as f:\n    f.write('x')\n"
            "result = os.path.exists(path)")
    return run(probe, code), os.path.join(folder, name)


@as_root
@pytest.mark.parametrize("shared", ["/tmp", "/dev/shm"])
def test_child_writes_only_its_own_tmpfs(probe, shared):
    import shutil
    import tempfile
    # A folder of the host's /tmp or /dev/shm that anyone may write: not in its view.
    host = tempfile.mkdtemp(prefix="convertix-host-", dir=shared)
    try:
        os.chmod(host, 0o777)
        got, path = _writes(probe, host)
        assert got.get("raised") in ("FileNotFoundError", "OSError", "PermissionError"), got
        assert not os.path.exists(path)
        # What it writes in its own /tmp (or /dev/shm) stays there.
        got, path = _writes(probe, shared)
        assert got.get("result") is True, got
        assert not os.path.exists(path)
    finally:
        shutil.rmtree(host)


@as_root
def test_child_sees_the_rest_of_the_filesystem_read_only(probe):
    import shutil
    import tempfile
    host = tempfile.mkdtemp(prefix="convertix-host-", dir="/var/tmp")
    try:
        os.chmod(host, 0o777)  # its uid may write here, the mount may not
        got, path = _writes(probe, host)
        assert (got.get("raised"), got.get("errno")) == ("OSError", errno.EROFS), got
        assert not os.path.exists(path)
    finally:
        shutil.rmtree(host)


@as_root
def test_child_sees_no_other_process(probe):
    # The test's own command line, world-readable in the host's /proc.
    got = run(probe, f"result = open('/proc/{os.getpid()}/cmdline', 'rb').read().decode()")
    assert got.get("raised") == "FileNotFoundError", got
    got = run(probe, "import os\nresult = [sorted(p for p in os.listdir('/proc') if p.isdigit()), os.getpid()]")
    pids, own = got["result"]
    assert pids == [str(own)]


DOCKER_LIKE = """
import os, sys, errno, pyseccomp as seccomp
# As Docker's default profile without CAP_SYS_ADMIN: no namespaces, no mounts.
flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
for name in ("unshare", "mount", "setns"):
    flt.add_rule(seccomp.ERRNO(errno.EPERM), name)
flt.load()
os.execv(sys.executable, [sys.executable] + sys.argv[1:])
"""


@pytest.mark.skipif(confine.seccomp is None, reason="needs libseccomp2 to refuse unshare")
def test_refused_namespaces_degrade_to_a_report_not_a_failure(tmp_path):
    # Where namespaces are refused (Docker), the sandbox still converts, and
    # its ready frame says what is not enforced (the converter logs it).
    import sys

    from convertix.imaging import Limits
    from tests.helpers import corpus_bytes
    wrapper = tmp_path / "docker_like.py"
    wrapper.write_text(DOCKER_LIKE)
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {wrapper} \"$@\"\n")
    python.chmod(0o755)
    with Sandbox(python=str(python)) as box:
        box.start()
        report = "; ".join(box.confinement)
        assert "no network namespace" in report and "no mount namespace" in report, report
        assert "/tmp and /dev/shm are the host's" in report and "/proc shows every process" in report
        for path in ("valid/bmp/bmpsuite/g-rgb32bf.bmp", "valid/png/pngsuite/basi0g01.png"):
            out = box.convert(corpus_bytes(path), {"format": "png"}, Limits(), timeout_s=60)
            assert out.width > 0, path
