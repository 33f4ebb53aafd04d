"""Benchmark: converter capacity that follows the queue, against a fixed worker.

    make bench-scaling       # or: python -m bench.scaling --tasks 120

Starts its own jobs service and converters on a fresh RabbitMQ vhost, SQLite
file and storage folder, then measures:
- burst: N tasks queued at once; drain time (burst to every task finished)
  with one fixed replica, and with the scaler (local backend, min 1, max M),
  plus the time from the burst to the first added replica consuming;
- steady: a constant arrival rate for a while under the scaler; the number
  of scale changes after the settling time (must be 0: no flapping).
Prints a table (docs/benchmarks.md "Scaling" keeps its figures).
"""
import eventlet

eventlet.monkey_patch()  # nameko's standalone RPC proxy needs a green world

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.pipeline import photo_like  # noqa: E402
from convertix.contract import CONVERT_QUEUE, JOB_FINAL  # noqa: E402
from convertix.imaging import sniff  # noqa: E402
from convertix.storage import Storage  # noqa: E402
from infra.config.schema import SCALER  # noqa: E402
from infra.queue_stats import QueueStatsReader  # noqa: E402
from scaler.backends.local import LocalBackend  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANAGEMENT = "http://guest:guest@localhost:15672"


class System:
    """A jobs service on a fresh vhost; converters are added by the scenario."""

    def __init__(self, workdir, workers, width):
        self.workdir = workdir
        self.options = {"format": "webp", "width": width, "height": width, "quality": 80}
        self.vhost = "convertix-bench-" + uuid.uuid4().hex[:8]
        requests.put(f"{MANAGEMENT}/api/vhosts/{self.vhost}", timeout=30).raise_for_status()
        requests.put(f"{MANAGEMENT}/api/permissions/{self.vhost}/guest", timeout=30,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        self.amqp_uri = f"pyamqp://guest:guest@localhost:5672/{self.vhost}"
        self.env = {**os.environ, "AMQP_URI": self.amqp_uri,
                    "DATABASE_URL": f"sqlite:///{workdir}/convertix.db",
                    "STORAGE_ROOT": f"{workdir}/storage", "LOG_DIR": f"{workdir}/logs",
                    "CONVERTIX_JWT_SECRET": uuid.uuid4().hex * 2,
                    "CONVERTER_WORKERS": str(workers),
                    "METRICS_TARGETS_DIR": f"{workdir}/targets", "LOG_LEVEL": "WARNING"}
        self.storage = Storage(self.env["STORAGE_ROOT"])
        self.procs = []
        subprocess.run([sys.executable, "-m", "infra.migrations", "upgrade"], cwd=ROOT,
                       env=self.env, check=True)  # make migrate, on the fresh database
        self.start("jobs", "services.jobs.service")
        self.rpc = ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=60)
        self.proxy = self.rpc.start()
        self.stats = QueueStatsReader(self.amqp_uri, MANAGEMENT)
        wait(lambda: self.proxy.jobs.ping(), 60, "the jobs service")

    def start(self, name, module, **env):
        log = open(f"{self.workdir}/{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "infra.runner", "--config",
                                 "config.yaml", module], cwd=ROOT, env={**self.env, **env},
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def submit(self, data, count, per_job=50):
        ids = []
        for first in range(0, count, per_job):
            n = min(per_job, count - first)
            job_id = uuid.uuid4().hex
            for index in range(n):
                self.storage.write(self.storage.input_path(job_id, index), data)
            files = [{"filename": f"{i}.jpg", "format": sniff(data), "bytes": len(data)}
                     for i in range(n)]
            self.proxy.jobs.create_job(job_id, "bench", self.options, files)
            ids.append(job_id)
        return ids

    def unfinished(self, ids):
        return [j for j in ids if self.proxy.jobs.get_job(j, "bench")["status"] not in JOB_FINAL]

    def consumers(self):
        return self.stats.declare_passive(CONVERT_QUEUE)[1]

    def close(self):
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.rpc.stop()
        self.stats.close()
        requests.delete(f"{MANAGEMENT}/api/vhosts/{self.vhost}", timeout=30)


def wait(condition, timeout, what, interval=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def burst(system, data, count, initial_consumers):
    """Queue `count` tasks at once; returns (drain s, first added replica consuming s)."""
    t0 = time.monotonic()
    ids = system.submit(data, count)
    first_added = None
    while True:
        if first_added is None and system.consumers() > initial_consumers:
            first_added = time.monotonic() - t0
        if not system.unfinished(ids):
            return time.monotonic() - t0, first_added
        time.sleep(0.25)


def scaler_env(args, window_s):
    return {"SCALER_MIN_REPLICAS": "1", "SCALER_MAX_REPLICAS": str(args.max_replicas),
            "SCALER_TARGET_BACKLOG": "8", "SCALER_UP_STEP": "2", "SCALER_POLL_S": "1",
            "SCALER_DOWN_WINDOW_S": str(window_s), "SCALER_METRICS_PORT": "0"}


def run_fixed(args, data):
    with tempfile.TemporaryDirectory() as workdir:
        system = System(workdir, args.workers, args.width)
        backend = LocalBackend([sys.executable, "-m", "infra.runner", "--config",
                                "config.yaml", "services.converter.service"],
                               env={**system.env, "CONVERTER_WORKERS": args.workers},
                               log_dir=f"{workdir}/logs",
                               stop_timeout_s=SCALER.default["local"]["stop_timeout_s"])
        try:
            backend.scale(1)
            wait(lambda: system.consumers() == 1, 120, "one replica consuming")
            drain, _ = burst(system, data, args.tasks, 1)
        finally:
            backend.close()
            system.close()
    return {"drain_s": drain, "first_added_s": None, "max_replicas": 1, "changes": 0}


@contextlib.contextmanager
def scaled_system(args):
    """A System whose converters the real scaler runs, its min replica consuming."""
    with tempfile.TemporaryDirectory() as workdir:
        system = System(workdir, args.workers, args.width)
        try:
            system.start("scaler", "scaler.service", **scaler_env(args, args.window))
            wait(lambda: system.consumers() == 1, 120, "the min replica consuming")
            yield system
        finally:
            system.close()


def run_scaled(args, data):
    with scaled_system(args) as system:
        drain, first_added = burst(system, data, args.tasks, 1)
        status = system.proxy.scaler.status()
        most = max([d["desired"] for d in status["decisions"]] or [1])
        return {"drain_s": drain, "first_added_s": first_added, "max_replicas": most,
                "changes": status["changes"]}


def run_steady(args, data):
    """A constant arrival rate; scale changes after settling."""
    with scaled_system(args) as system:
        ids, start = [], time.monotonic()
        settled_changes = None
        interval = 1.0 / args.rate
        while time.monotonic() - start < args.steady_s:
            ids += system.submit(data, 1)
            if settled_changes is None and time.monotonic() - start >= args.settle_s:
                settled_changes = system.proxy.scaler.status()["changes"]
            time.sleep(max(0.0, start + len(ids) * interval - time.monotonic()))
        status = system.proxy.scaler.status()
        wait(lambda: not system.unfinished(ids), 300, "the steady load to finish", 1)
        return {"tasks": len(ids), "after_settling": status["changes"] - settled_changes,
                "total": status["changes"], "running": status.get("running")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100, help="tasks in the burst")
    parser.add_argument("--size", default="4000x3000", help="input image size")
    parser.add_argument("--width", type=int, default=1600, help="output width (WebP)")
    parser.add_argument("--workers", type=int, default=1,
                        help="workers (sandboxes) per replica: 1 lets replicas add cores")
    parser.add_argument("--max-replicas", type=int, default=3)
    parser.add_argument("--window", type=float, default=30, help="scale-down window, s")
    parser.add_argument("--rate", type=float, default=1.0, help="steady arrivals per second")
    parser.add_argument("--steady-s", type=float, default=90)
    parser.add_argument("--settle-s", type=float, default=30)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    data = photo_like((width, height), 1)

    fixed = run_fixed(args, data)
    scaled = run_scaled(args, data)
    steady = run_steady(args, data)

    print(f"\nburst of {args.tasks} tasks ({args.size} JPEG -> {args.width}px WebP), "
          f"{os.cpu_count()} cores, {args.workers} worker(s) per replica\n")
    print("| scenario | drain s | burst -> first added replica consuming, s "
          "| most replicas | scale changes |")
    print("|---|---|---|---|---|")
    for name, row in (("fixed: 1 replica", fixed),
                      (f"scaler: 1..{args.max_replicas} replicas", scaled)):
        first = "-" if row["first_added_s"] is None else f"{row['first_added_s']:.1f}"
        print(f"| {name} | {row['drain_s']:.1f} | {first} | {row['max_replicas']} "
              f"| {row['changes']} |")
    print(f"\nsteady load, {args.rate:g} tasks/s for {args.steady_s:g}s "
          f"({steady['tasks']} tasks): {steady['after_settling']} scale changes after "
          f"{args.settle_s:g}s of settling ({steady['total']} in all; "
          f"{steady['running']} replicas running at the end)")


if __name__ == "__main__":
    main()
