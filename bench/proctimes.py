"""CPU time of a process tree, by role, read from /proc (Linux).

A bench takes a snapshot before and after some work; the difference, per role,
is where the CPU went. CPU is read per thread from /proc/<pid>/task/*/schedstat
(nanoseconds; /proc/<pid>/stat counts 10 ms ticks, too coarse for a few ms
per task). A process that exits between two snapshots takes its CPU with it,
so the figures are lower bounds for roles whose processes come and go.

The backends the system uses but does not start (RabbitMQ, Redis,
PostgreSQL) are not in its tree: `snapshot(roots, backends=True)` adds every
process of theirs on this machine, by name. They serve whatever else runs
here too, so read their figures from a quiet machine.
"""
import os

# (role, cmdline fragment): the first match names a process; order matters
# (a sandbox child's command line also mentions convertix).
ROLES = (
    ("engine", "convertix.imaging.worker"),
    ("converter", "services.converter.service"),
    ("scaler", "scaler.service"),
    ("jobs+accounts", "services.jobs.service"),
    ("notifier", "services.notifier.service"),
    ("gateway", "gunicorn"),
)
OTHER = "other"
# (role, process name as /proc/<pid>/comm has it): shared backends, outside the tree
BACKENDS = (
    ("rabbitmq", "beam.smp"),
    ("rabbitmq", "epmd"),
    ("redis", "redis-server"),
    ("postgres", "postgres"),
)


def _read_all(file):
    """(pid, text of /proc/<pid>/<file>) for every process now (those gone meanwhile left out)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/{file}") as f:
                yield int(name), f.read()
        except OSError:
            continue


def _children():
    """{pid: [child pids]} for every process now."""
    tree = {}
    for pid, stat in _read_all("stat"):
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(pid)
    return tree


def descendants(root):
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, ()))
    return out


def cpu_ns(pid):
    """CPU time of every live thread of `pid`, in ns (None if it is gone)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass  # the thread ended just now
    except OSError:
        return None
    return total


def role(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return next((name for name, fragment in ROLES if fragment in cmdline), OTHER)


def backend_pids():
    """{pid: role} of the shared backends' processes now: this machine's, not
    those of containers (their own pid namespace), which serve something else."""
    names = {comm: name for name, comm in BACKENDS}
    return {pid: names[comm.strip()] for pid, comm in _read_all("comm")
            if comm.strip() in names and _same_pid_namespace(pid)}


def _same_pid_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def snapshot(roots, backends=False):
    """{pid: (role, cpu ns)} for `roots` and all their descendants, and with
    `backends` the shared backends' processes (BACKENDS)."""
    out = {}
    for root in roots:
        for pid in descendants(root):
            name, ns = role(pid), cpu_ns(pid)
            if name is not None and ns is not None:
                out[pid] = (name, ns)
    if backends:
        for pid, name in backend_pids().items():
            ns = cpu_ns(pid)
            if ns is not None and pid not in out:
                out[pid] = (name, ns)
    return out


def spent(before, after):
    """{role: ns} spent between two snapshots (new processes count from 0)."""
    out = {}
    for pid, (name, ns) in after.items():
        previous = before.get(pid, (name, 0))[1]
        out[name] = out.get(name, 0) + max(0, ns - previous)
    return out
