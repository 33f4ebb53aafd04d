"""Benchmark: batches of jobs at once against the raw engine, with what each task costs.

    python -m bench.batches          # or: python -m bench.pipeline --batches

Starts Convertix as `make run` does (scripts/run.sh, its own vhost, database
and storage; the job rate limit lifted, reuse off so every file converts)
and sends, per work, several multi-file jobs at once from as many threads,
upload included, until every job is final. The raw engine
(`convertix.imaging.convert()` in 2 processes holding the image bytes)
converts the same number of images in the same run: the ratio is the measure.

Per task it also prints what moved around the engine:
  - AMQP messages: the vhost's publishes and deliveries (RabbitMQ management
    API message stats, read before and after each batch);
  - database commits: `convertix_db_commits_total` summed over every
    process's /metrics (their addresses are in the metrics targets folder);
  - CPU by process role (bench/proctimes.py), the sandboxes ("engine") apart,
    RabbitMQ, Redis and PostgreSQL included (shared: quiet machine only).
"""
import argparse
import concurrent.futures
import glob
import json
import os
import sys
import time

import requests

from bench import proctimes
from bench.pipeline import ROOT, photo_like, start_system, stop_system
from bench.thumbor import MANAGEMENT, Convertix, EnginePool, own_vhost

# key -> (title, input size, seed, options, jobs, files per job)
WORKS = {
    "A": ("12 MP JPEG -> 1024 px WebP q80", (4000, 3000), 1,
          {"format": "webp", "width": 1024, "height": 1024, "quality": 80}, 2, 24),
    "B": ("1080p JPEG -> 256 px JPEG q85", (1920, 1080), 2,
          {"format": "jpeg", "width": 256, "height": 256, "quality": 85}, 4, 50),
}


def message_stats(vhost):
    """(published, delivered) so far in the vhost."""
    stats = requests.get(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30).json().get(
        "message_stats", {})
    return stats.get("publish", 0), stats.get("deliver_get", 0)


def commits(targets_dir):
    """convertix_db_commits_total over every process serving metrics."""
    total = 0.0
    for path in glob.glob(os.path.join(targets_dir, "*.json")):
        try:
            with open(path) as f:
                address = json.load(f)[0]["targets"][0]
            text = requests.get(f"http://{address}/metrics", timeout=10).text
        except (OSError, ValueError, KeyError, IndexError, requests.RequestException):
            continue  # a process that stopped
        total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("convertix_db_commits_total{"))
    return total


def settled_counts(vhost, targets_dir, settle_s=7.0):
    """Counters once RabbitMQ's message stats have caught up (they are
    sampled every 5 s): read until two reads agree, at most settle_s."""
    deadline = time.monotonic() + settle_s
    last = None
    while True:
        now = (message_stats(vhost), commits(targets_dir))
        if now == last or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(2.5)


def run_batch(client, root, vhost, targets_dir, data, options, jobs, files):
    """`jobs` POSTs of `files` images at once, each from its own thread; wall
    time from the first POST to the last job final, and the counters' moves."""
    (pub0, del0), commits0 = settled_counts(vhost, targets_dir)
    before = proctimes.snapshot([root], backends=True)
    # each upload unique: a byte appended after the JPEG's end changes no pixel
    uploads = [[data + bytes([j, n % 256]) for n in range(files)] for j in range(jobs)]

    def one(images):
        session = requests.Session()
        job_id = client.submit(session, images, options)
        doc = client.wait(session, job_id, interval=0.2)
        if doc["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {doc['status']}")
        return time.perf_counter()

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        ends = list(pool.map(one, uploads))
    wall = max(ends) - t0
    cpu = proctimes.spent(before, proctimes.snapshot([root], backends=True))
    (pub1, del1), commits1 = settled_counts(vhost, targets_dir)
    tasks = jobs * files
    return {"tasks": tasks, "wall_s": wall, "published": (pub1 - pub0) / tasks,
            "delivered": (del1 - del0) / tasks, "commits": (commits1 - commits0) / tasks,
            "cpu_ms": {name: ns / 1e6 / tasks for name, ns in cpu.items()}}


def raw_engine(data, options, tasks, processes):
    engine = EnginePool(data, options, processes)
    try:
        _, elapsed, _ = engine(tasks, processes)
    finally:
        engine.close()
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="raw-engine processes")
    parser.add_argument("--port", type=int, default=8096)
    parser.add_argument("--works", default="AB", help="which works, e.g. A")
    args = parser.parse_args(argv)

    var = os.path.join(ROOT, "var", "bench-batches")
    targets_dir = os.path.join(var, "metrics", "targets")
    vhost = own_vhost()
    rows = {}
    system = None
    try:
        system = start_system(args.port, "bench-batches", {
            "SCALER_METRICS_PORT": "0", "JOB_RATE_LIMIT_PER_USER": "100000 per minute",
            "REUSE_RESULTS": "false", "METRICS_TARGETS_DIR": targets_dir,
            "AMQP_URI": f"pyamqp://guest:guest@localhost:5672/{vhost}"})
        for key in args.works:
            title, size, seed, options, jobs, files = WORKS[key]
            data = photo_like(size, seed)
            client = Convertix(f"http://127.0.0.1:{args.port}", jobs)
            client.async_one(data, options)(requests.Session())  # warm-up
            engine_s = raw_engine(data, options, jobs * files, args.processes)
            batch = run_batch(client, system.pid, vhost, targets_dir, data, options, jobs, files)
            rows[key] = (title, jobs, files, engine_s, batch)
        report(args, rows)  # before the stop, which may take minutes
    finally:
        if system:
            stop_system(system, timeout=600)
        requests.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30)
    return 0


def report(args, rows):
    print(f"\nbatches at once, upload included; raw engine on {args.processes} processes; "
          f"{os.cpu_count()} CPUs\n")
    print("| work | raw engine img/s | Convertix img/s | vs raw | AMQP published / task "
          "| AMQP delivered / task | DB commits / task |")
    print("|---|---|---|---|---|---|---|")
    for key, (title, jobs, files, engine_s, batch) in rows.items():
        tasks = batch["tasks"]
        print(f"| batch {key}: {jobs} jobs x {files}, {title} | {tasks / engine_s:.1f} "
              f"| {tasks / batch['wall_s']:.1f} | {engine_s / batch['wall_s']:.2f}x "
              f"| {batch['published']:.1f} | {batch['delivered']:.1f} | {batch['commits']:.2f} |")
    roles = sorted({name for row in rows.values() for name in row[4]["cpu_ms"]})
    print("\nCPU per task by process, ms\n")
    print("| work | " + " | ".join(roles) + " |")
    print("|---" * (len(roles) + 1) + "|")
    for key, row in rows.items():
        cpu = row[4]["cpu_ms"]
        print(f"| batch {key} | " + " | ".join(f"{cpu.get(r, 0):.1f}" for r in roles) + " |")


if __name__ == "__main__":
    sys.exit(main())
