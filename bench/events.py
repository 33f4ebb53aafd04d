"""Benchmark: live job events. Two questions, one table each.

    python -m bench.events                 # starts its own processes (port 8098)
    python -m bench.events --streams 500 --hold-s 20 --converts 20

1. Open streams: hold `--streams` open `GET /jobs/<id>/events` streams (one
   selector thread, raw sockets) on jobs that stay queued (no converter runs
   yet), while `--clients` threads upload (POST /jobs) and read (GET
   /jobs/<id>) for `--hold-s` seconds: their p50/p95. Then every watched job
   is cancelled and each stream must get that event and end: how long until
   the last one did.
2. `/convert` woken by events: with a converter started and idle, one
   `/convert` at a time. The gap between the task's end (the job document's
   `updated_at`, when the jobs service committed it) and the response's last
   byte; and RPCs per /convert (the jobs service's call counters, /metrics).

The gateway runs under gunicorn as `make run` runs it (config.yaml's
GATEWAY: gevent workers); the services and the converter under infra.runner.
"""
import argparse
import concurrent.futures
import glob
import io
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from bench.pipeline import percentile
from tests.helpers import stop_process_groups

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


def png(size=(64, 48), seed=0):
    buffer = io.BytesIO()
    Image.new("RGB", size, (seed % 256, 30, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def photo(size=(1600, 1200)):
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class System:
    """The services, a converter (on demand) and the gateway, as processes."""

    def __init__(self, port):
        self.var = os.path.join(ROOT, "var", "bench-events")
        shutil.rmtree(self.var, ignore_errors=True)
        os.makedirs(self.var)
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "GATEWAY_PORT": str(port),
                    "DATABASE_URL": f"sqlite:///{self.var}/convertix.db",
                    "STORAGE_ROOT": f"{self.var}/storage", "LOG_DIR": f"{self.var}/log",
                    "METRICS_PORT": "0", "METRICS_TARGETS_DIR": f"{self.var}/targets",
                    "METRICS_MULTIPROC_DIR": f"{self.var}/multiproc",
                    "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
                    # one user drives the load: measure the system, not the per-user limit
                    "JOB_RATE_LIMIT_PER_USER": "100000 per minute",
                    "SSE_STREAMS_PER_USER": "100000",  # its streams are one user's too
                    # the same image again and again: converted each time, not reused
                    "REUSE_RESULTS": "false"}
        self.env.setdefault("CONVERTIX_JWT_SECRET", uuid.uuid4().hex * 2)
        self.procs = []

    def _start(self, name, argv):
        log = open(os.path.join(self.var, f"{name}.log"), "ab")
        self.procs.append(subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True))

    def start(self):
        if os.path.isdir(os.path.join(ROOT, "infra", "migrations")):
            subprocess.run([PY, "-m", "infra.migrations", "upgrade"], cwd=ROOT, env=self.env,
                           check=True, capture_output=True)
        self._start("services", [PY, "-m", "infra.runner", "--config", "config.yaml",
                                 "services.accounts.service", "services.jobs.service"])
        self._start("gateway", [os.path.join(os.path.dirname(PY), "gunicorn"), "-c",
                                "gateway/gunicorn_conf.py", "gateway.wsgi:app"])
        self._wait(lambda checks: checks["jobs"] == "ok" and checks["accounts"] == "ok")

    def start_converter(self):
        self._start("converter", [PY, "-m", "infra.runner", "--config", "config.yaml",
                                  "services.converter.service"])
        self._wait(lambda checks: checks.get("converter") == "ok")

    def _wait(self, ready, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = requests.get(self.url + "/readyz", timeout=10)
                if ready(answer.json()["checks"]):
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"not ready; see {self.var}/*.log")

    def stop(self):
        stop_process_groups(self.procs, timeout=60)

    def jobs_calls(self):
        """{entrypoint: calls} of the jobs service, from its /metrics."""
        calls = {}
        for path in glob.glob(os.path.join(self.var, "targets", "*.json")):
            with open(path) as handle:
                targets = [t for group in json.load(handle) for t in group["targets"]]
            for target in targets:
                text = requests.get(f"http://{target}/metrics", timeout=10).text
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        if (sample.name == "convertix_service_calls_total"
                                and sample.labels.get("service") == "jobs"):
                            key = sample.labels["entrypoint"]
                            calls[key] = calls.get(key, 0) + sample.value
        return calls


class User:
    def __init__(self, url):
        self.api = url + "/api/v1"
        name, password = "bench-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
        requests.post(f"{self.api}/auth/register", json={"username": name, "password": password},
                      timeout=30).raise_for_status()
        for _ in range(3):  # seen here: the first login after start-up answered 401 once
            login = requests.post(f"{self.api}/auth/login", timeout=30, json={
                "username": name, "password": password})
            if login.status_code == 200:
                break
        if login.status_code != 200:
            raise RuntimeError(f"login: {login.status_code} {login.text}")
        self.token = login.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def upload(self, session, data, options, path="/jobs"):
        return session.post(self.api + path, headers=self.headers, timeout=60,
                            data={"options": json.dumps(options)},
                            files=[("file", ("bench.png", data))])


class Streams:
    """Many SSE streams on raw sockets, read by one selector thread."""

    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token
        self.selector = selectors.DefaultSelector()
        self.state = {}  # socket -> {"events": n, "statuses": [...], "ended": time|None, "buf"}
        self.lock = threading.Lock()
        self.running = True

    def open(self, job_id):
        sock = socket.create_connection((self.host, self.port), timeout=30)
        sock.sendall((f"GET /api/v1/jobs/{job_id}/events HTTP/1.1\r\nHost: {self.host}\r\n"
                      f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n"
                      "Connection: close\r\n\r\n"
                      ).encode())
        sock.setblocking(False)
        with self.lock:
            self.state[sock] = {"statuses": [], "ended": None, "buf": b""}
            self.selector.register(sock, selectors.EVENT_READ)

    def run(self):
        while self.running:
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                with self.lock:
                    state = self.state[sock]
                    if not chunk:
                        state["ended"] = time.monotonic()
                        self.selector.unregister(sock)
                        sock.close()
                        continue
                    state["buf"] += chunk
                    # chunked transfer: the JSON sits on lines starting "data: "
                    *lines, state["buf"] = state["buf"].split(b"\n")
                    for line in lines:
                        if line.startswith(b"data: "):
                            state["statuses"].append(json.loads(line[6:])["status"])
                        if line.strip() == b"0" and state["statuses"] and \
                                state["statuses"][-1] in ("succeeded", "cancelled"):
                            state["ended"] = time.monotonic()

    def summary(self):
        with self.lock:
            states = list(self.state.values())
        return {"open": sum(1 for s in states if s["ended"] is None),
                "with_first_event": sum(1 for s in states if s["statuses"]),
                "ended": [s["ended"] for s in states if s["ended"] is not None],
                "final": sum(1 for s in states if s["statuses"][-1:] == ["cancelled"])}


def hold_streams(system, count, hold_s, clients, jobs_per_stream=10):
    user = User(system.url)
    session = requests.Session()
    jobs = [user.upload(session, png(seed=n), {"format": "webp"}).json()["id"]
            for n in range(max(1, count // jobs_per_stream))]
    streams = Streams("127.0.0.1", int(system.url.rsplit(":", 1)[1]), user.token)
    reader = threading.Thread(target=streams.run, daemon=True)
    reader.start()
    opened = time.monotonic()
    for n in range(count):
        streams.open(jobs[n % len(jobs)])
    deadline = time.monotonic() + 120
    while streams.summary()["with_first_event"] < count and time.monotonic() < deadline:
        time.sleep(0.1)
    all_first_s = time.monotonic() - opened

    latencies = {"POST /jobs": [], "GET /jobs/<id>": []}
    created = []
    stop_at = time.monotonic() + hold_s

    def load(n):
        own = requests.Session()
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            answer = user.upload(own, png(seed=n), {"format": "png"})
            latencies["POST /jobs"].append(time.perf_counter() - t0)
            answer.raise_for_status()
            created.append(answer.json()["id"])
            t0 = time.perf_counter()
            own.get(f"{user.api}/jobs/{answer.json()['id']}", headers=user.headers,
                    timeout=30).raise_for_status()
            latencies["GET /jobs/<id>"].append(time.perf_counter() - t0)

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(load, range(clients)))
    held = streams.summary()["open"]

    cancelled_at = time.monotonic()
    for job_id in jobs:
        session.delete(f"{user.api}/jobs/{job_id}", headers=user.headers, timeout=30)
    deadline = time.monotonic() + 60
    while streams.summary()["open"] and time.monotonic() < deadline:
        time.sleep(0.05)
    done = streams.summary()
    streams.running = False
    for job_id in created:  # no backlog left for the /convert runs
        session.delete(f"{user.api}/jobs/{job_id}", headers=user.headers, timeout=30)
    return {"streams": count, "first_event_all_s": all_first_s, "held": held,
            "latencies": latencies, "final": done["final"],
            "all_final_s": (max(done["ended"]) - cancelled_at) if done["ended"] else None}


def convert_gaps(system, count):
    user = User(system.url)
    session = requests.Session()
    data = photo()
    options = {"format": "webp", "width": 800}
    warm = user.upload(session, data, options, path="/convert")  # warm-up
    if warm.status_code != 200:
        raise RuntimeError(f"/convert: {warm.status_code} {warm.text[:500]}")
    before = system.jobs_calls()
    answers, totals = [], []
    for _ in range(count):
        t0 = time.perf_counter()
        answer = user.upload(session, data, options, path="/convert")
        answers.append((answer, time.time()))
        totals.append(time.perf_counter() - t0)
        answer.raise_for_status()
    time.sleep(1)  # the services count a call after replying
    after = system.jobs_calls()
    per = {name: (after.get(name, 0) - before.get(name, 0)) / count
           for name in ("create_job", "get_job", "result_files")}
    gaps = []
    for answer, received in answers:  # read afterwards: these get_job calls are not counted
        doc = session.get(f"{user.api}/jobs/{answer.headers['X-Convertix-Job']}",
                          headers=user.headers, timeout=30).json()
        ended = datetime.fromisoformat(doc["updated_at"].rstrip("Z")).replace(
            tzinfo=timezone.utc).timestamp()
        gaps.append(received - ended)
    return {"count": count, "gaps": gaps, "totals": totals, "rpcs": per}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--hold-s", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4, help="upload/GET threads while holding")
    parser.add_argument("--converts", type=int, default=20)
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args(argv)

    system = System(args.port)
    try:
        system.start()
        held = hold_streams(system, args.streams, args.hold_s, args.clients)
        system.start_converter()
        converts = convert_gaps(system, args.converts)
    finally:
        system.stop()

    ms = 1000
    print(f"\n{os.cpu_count()} CPUs; gateway: config.yaml's GATEWAY (gevent workers)\n")
    print("| open streams | all had their first event after | still open after the load "
          "| got the final event | last stream ended after cancel |")
    print("|---|---|---|---|---|")
    print(f"| {held['streams']} | {held['first_event_all_s']:.1f} s | {held['held']} "
          f"| {held['final']} | {held['all_final_s'] or float('nan'):.2f} s |")
    print(f"\nwhile holding them, {args.clients} clients for {args.hold_s:.0f} s:\n")
    print("| request | count | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for name, values in held["latencies"].items():
        print(f"| {name} | {len(values)} | {percentile(values, 0.5) * ms:.0f} "
              f"| {percentile(values, 0.95) * ms:.0f} |")
    gaps = converts["gaps"]
    print(f"\n/convert, 1600x1200 JPEG -> 800 px WebP, one at a time, {converts['count']} runs:\n")
    print("| gap task end -> response p50 | p95 | /convert p50 | get_job per /convert "
          "| create_job | result_files |")
    print("|---|---|---|---|---|---|")
    rpcs = converts["rpcs"]
    print(f"| {percentile(gaps, 0.5) * ms:.1f} ms | {percentile(gaps, 0.95) * ms:.1f} ms "
          f"| {percentile(converts['totals'], 0.5) * ms:.0f} ms | {rpcs['get_job']:.2f} "
          f"| {rpcs['create_job']:.2f} | {rpcs['result_files']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
