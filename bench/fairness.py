"""Benchmark: one user's single task while another user has a 500-task backlog.

    python -m bench.fairness                 # starts its own system (scripts/run.sh)
    python -m bench.fairness --cap 1000000   # the same without the per-user cap

The system runs with a fixed converter width (one replica of
CONVERTER_WORKERS sandboxes, no scaling) so the numbers compare. User B's
idle latency (POST /jobs to the result downloaded, nothing else running) is
measured first; then user A uploads `--backlog` tasks (jobs of 50 files)
and, once they are converting, B sends the same single task `--samples`
times, one after another. The fair share (the default, `--cap 0`: the
sandboxes and one task ahead of each, split among the users with work), or
JOBS.max_tasks_in_flight_per_user (`--cap N`), keeps at most that many of
A's tasks on the queue, so B's task waits behind those, not behind the
backlog. Prints a table; docs/DESIGN.md "Fair sharing".
"""
import argparse
import json
import os
import statistics
import sys

import requests

from bench.pipeline import SystemClient, photo_like, system_at
from bench.thumbor import MANAGEMENT, own_vhost

FILES_PER_JOB = 50
OPTIONS = {"format": "webp", "width": 400, "quality": 80}


def upload_backlog(client, data, count):
    jobs = []
    for start in range(0, count, FILES_PER_JOB):
        names = range(start, min(count, start + FILES_PER_JOB))
        files = [("file", (f"{n}.jpg", data)) for n in names]
        answer = requests.post(f"{client.api}/jobs", headers=client.headers, timeout=300,
                               data={"options": json.dumps(OPTIONS)}, files=files)
        answer.raise_for_status()
        jobs.append(answer.json()["id"])
    return jobs


def remaining(client, jobs):
    left = 0
    for job_id in jobs:
        doc = requests.get(f"{client.api}/jobs/{job_id}", headers=client.headers, timeout=30).json()
        left += sum(t["status"] in ("queued", "processing") for t in doc["tasks"])
    return left


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=500, help="user A's tasks")
    parser.add_argument("--samples", type=int, default=10, help="user B's tasks, each timed (5 proved too few)")
    parser.add_argument("--cap", type=int, default=0,
                        help="max_tasks_in_flight_per_user; 0 (the default, as config.yaml's): "
                             "the fair share, with one task ahead per sandbox")
    parser.add_argument("--workers", type=int, default=2, help="the converter's sandboxes")
    parser.add_argument("--port", type=int, default=8193)
    args = parser.parse_args(argv)

    env = {"MAX_TASKS_IN_FLIGHT_PER_USER": str(args.cap), "CONVERTER_WORKERS": str(args.workers),
           "SCALER_MIN_REPLICAS": "1", "SCALER_MAX_REPLICAS": "1",
           "JOB_RATE_LIMIT_PER_USER": "10000 per minute", "AUTH_RATE_LIMIT": "1000 per minute",
           "REUSE_RESULTS": "false",  # the same image throughout: every task converts
           "QUOTA_BYTES": str(2**40)}
    # its own vhost: another system on this broker would take its RPCs and tasks
    vhost = own_vhost()
    env["AMQP_URI"] = f"pyamqp://guest:guest@localhost:5672/{vhost}"
    try:
        idle, busy, left = measure(args, env)
    finally:
        requests.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30)
    report(args, idle, busy, left)
    return 0


def measure(args, env):
    with system_at(None, args.port, name="bench-fairness", env=env) as url:
        alice, bob = SystemClient(url), SystemClient(url)
        data = photo_like((800, 600), 3)
        bob.one(data, OPTIONS)  # warm-up
        idle = [bob.one(data, OPTIONS) for _ in range(args.samples)]

        jobs = upload_backlog(alice, data, args.backlog)
        busy = [bob.one(data, OPTIONS) for _ in range(args.samples)]
        left = remaining(alice, jobs)
        for job_id in jobs:  # cancel the rest: DELETE
            requests.delete(f"{alice.api}/jobs/{job_id}", headers=alice.headers, timeout=60)
    return idle, busy, left


def report(args, idle, busy, left):
    idle_ms, busy_ms = statistics.median(idle) * 1000, statistics.median(busy) * 1000
    cap = args.cap or "the fair share"
    print(f"\nuser A: {args.backlog} tasks; cap {cap} per user; one converter with "
          f"{args.workers} sandboxes; {os.cpu_count()} CPUs; {args.samples} samples of B\n")
    print("| B's single task | p50 ms | max ms |")
    print("|---|---|---|")
    print(f"| idle system | {idle_ms:.0f} | {max(idle) * 1000:.0f} |")
    print(f"| behind A's backlog | {busy_ms:.0f} | {max(busy) * 1000:.0f} |")
    print(f"| ratio | {busy_ms / idle_ms:.2f}x | |")
    print(f"\nA's tasks still unfinished after B's samples: {left} of {args.backlog}")


if __name__ == "__main__":
    sys.exit(main())
