"""bench/proctimes.py: the backends the system does not start (RabbitMQ,
Redis, PostgreSQL) are counted by their process names, outside the tree."""
import os
import shutil
import subprocess

from bench import proctimes
from tests.helpers import wait_until


def test_a_backend_process_is_found_by_its_name(tmp_path):
    fake = tmp_path / "redis-server"  # /proc/<pid>/comm is the executable's name
    shutil.copy(shutil.which("sleep"), fake)
    proc = subprocess.Popen([str(fake), "30"])
    try:
        # named so once it has exec'd (until then it is a copy of this process)
        wait_until(lambda: proctimes.backend_pids().get(proc.pid) == "redis", timeout=10,
                   message="the fake backend running")
        assert proctimes.snapshot([], backends=True)[proc.pid][0] == "redis"
        assert proctimes.snapshot([]) == {}  # only with backends=True
        # a process of the system's own tree keeps its role there, whatever its name
        assert proctimes.snapshot([os.getpid()], backends=True)[proc.pid][0] == proctimes.OTHER
    finally:
        proc.kill()
        proc.wait()


def test_a_backend_in_a_container_is_not_counted(tmp_path):
    """One in its own pid namespace (a container's) serves something else."""
    fake = tmp_path / "beam.smp"
    shutil.copy(shutil.which("sleep"), fake)
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", str(fake), "30"])
    try:
        def child():
            return [pid for pid in proctimes.descendants(proc.pid) if pid != proc.pid]
        wait_until(lambda: any(open(f"/proc/{pid}/comm").read().strip() == "beam.smp"
                               for pid in child()), timeout=10, message="the fake broker running")
        assert not set(child()) & set(proctimes.backend_pids())
    finally:
        proc.kill()  # --kill-child: the fake broker goes with it
        proc.wait()
