"""tests/helpers.py's stop_process_group: the child's whole group goes, also
when the child ignores the signal."""
import os
import signal
import subprocess
import sys

from tests.helpers import stop_process_group, wait_until

# A leader that starts a grandchild and prints its pid; optionally deaf to SIGTERM.
LEADER = """
import signal, subprocess, sys, time
if sys.argv[1] == "deaf":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def start(mode):
    proc = subprocess.Popen([sys.executable, "-c", LEADER, mode], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    return proc, int(proc.stdout.readline())


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] == "Z"  # a zombie until init reaps it
    except FileNotFoundError:
        return True


def test_a_group_that_heeds_the_signal_stops_whole():
    proc, grandchild = start("plain")
    assert stop_process_group(proc, timeout=30)
    assert proc.returncode == -signal.SIGTERM
    wait_until(lambda: gone(grandchild), timeout=10, message="the grandchild gone")


def test_a_leader_deaf_to_the_signal_is_killed_with_its_group():
    proc, grandchild = start("deaf")
    assert not stop_process_group(proc, timeout=0.5)
    assert proc.returncode == -signal.SIGKILL
    wait_until(lambda: gone(grandchild), timeout=10, message="the grandchild gone")
    assert os.getpgid(os.getpid()) != proc.pid  # ours was never signalled
