"""Benchmark: the raw engine against the whole system, same images and options.

    make bench                      # starts its own system (scripts/run.sh) on port 8099
    python -m bench.pipeline --batches   # jobs of many files at once (bench/batches.py)
    python -m bench.pipeline --url http://127.0.0.1:8080   # against a running one

Raw engine: `convertix.imaging.convert()` in this process, in memory, one
image at a time. Whole system: HTTP upload → RabbitMQ → converter sandbox →
storage → HTTP download, with N concurrent clients, each waiting for its
result before sending the next. Prints images/s and p50/p95 latency of both,
and their ratio.
"""
import argparse
import concurrent.futures
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import requests
from PIL import Image

from convertix.contract import JOB_FINAL
from convertix.imaging import capabilities, convert
from convertix.options import validate
from tests.helpers import stop_process_group

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_DEADLINE_S = 300

# name -> (image size, options): the two cases of docs/benchmarks.md "The pipeline"
CASES = {
    "12MP JPEG -> 1024px WebP q80": ((4000, 3000), {"format": "webp", "width": 1024,
                                                     "height": 1024, "quality": 80}),
    "2MP JPEG -> 256px JPEG q85": ((1600, 1200), {"format": "jpeg", "width": 256,
                                                   "height": 256, "quality": 85}),
}


def photo_like(size, seed):
    """A smooth gradient with noise: compresses and resamples like a photo."""
    width, height = size
    base = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 25 + seed % 7)
    rgb = Image.merge("RGB", (base, noise, base.rotate(180)))
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summarise(latencies, elapsed):
    return {"images": len(latencies), "images_per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.5) * 1000, "p95_ms": percentile(latencies, 0.95) * 1000}


def bench_engine(data, options, count):
    options = validate(options, capabilities()["output"])
    convert(data, options)  # warm-up: plugin imports, first-use setup
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        convert(data, options)
        latencies.append(time.perf_counter() - t0)
    return summarise(latencies, time.perf_counter() - started)


class SystemClient:
    """A user of its own (registered and signed in) on the gateway at `url`."""

    def __init__(self, url, prefix="bench-"):
        self.api = url.rstrip("/") + "/api/v1"
        name, password = prefix + uuid.uuid4().hex[:8], uuid.uuid4().hex
        requests.post(f"{self.api}/auth/register", json={"username": name, "password": password},
                      timeout=30).raise_for_status()
        token = requests.post(f"{self.api}/auth/login", json={"username": name,
                              "password": password}, timeout=30).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def one(self, data, options):
        t0 = time.perf_counter()
        session = requests.Session()
        answer = session.post(f"{self.api}/jobs", headers=self.headers, timeout=120,
                              data={"options": json.dumps(options)},
                              files=[("file", ("bench.jpg", data))])
        answer.raise_for_status()
        job_id = answer.json()["id"]
        deadline = time.monotonic() + JOB_DEADLINE_S
        while True:  # poll the job, as a plain HTTP client would (no event stream)
            doc = session.get(f"{self.api}/jobs/{job_id}", headers=self.headers, timeout=30).json()
            if doc["status"] in JOB_FINAL:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} not done after {JOB_DEADLINE_S} s")
            time.sleep(0.02)
        if doc["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {doc['status']}: {doc['tasks'][0]['error']}")
        result = session.get(f"{self.api}/jobs/{job_id}/tasks/0/result", headers=self.headers,
                             timeout=60)
        result.raise_for_status()
        return time.perf_counter() - t0


def bench_system(client, data, options, count, clients):
    client.one(data, options)  # warm-up
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda _: client.one(data, options), range(count)))
    return summarise(latencies, time.perf_counter() - started)


def start_system(port, name="bench", env=None):
    """scripts/run.sh with its own var/<name> folder; returns the run.sh process."""
    var = os.path.join(ROOT, "var", name)
    shutil.rmtree(var, ignore_errors=True)  # a fresh database and storage each run
    env = {**os.environ, "CONVERTIX_VAR": var, "GATEWAY_PORT": str(port),
           "DATABASE_URL": f"sqlite:///{var}/convertix.db", "STORAGE_ROOT": f"{var}/storage",
           # the benches send the same images again and again: measure their
           # conversion, not the reuse of a stored result (docs/DESIGN.md "Reused results")
           "REUSE_RESULTS": "false",
           **(env or {})}
    proc = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_stoppable)
    said = []
    for line in proc.stdout:  # run.sh prints this line once /readyz answers 200
        said.append(line)
        if "is ready at" in line:
            return proc
    subprocess.run(["bash", "scripts/stop.sh"], cwd=ROOT, env=env)  # what did start
    raise RuntimeError(f"the system did not start; see var/{name}/log/; run.sh said:\n"
                       + "".join(said[-20:]))


def _stoppable():
    """SIGINT handled again in run.sh: a bench started in the background
    (`cmd &`) inherits it ignored, and bash cannot trap a signal ignored at
    its start, so stop_system's SIGINT would stop nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_system(proc, timeout=180):
    """Stops what start_system started (run.sh stops the whole system on SIGINT)."""
    stop_process_group(proc, signal.SIGINT, timeout)


@contextlib.contextmanager
def system_at(url, port, name="bench", env=None):
    """Yields the gateway's URL: `url` where given, else that of a system
    started here (start_system) and stopped on the way out."""
    if url:
        yield url
        return
    proc = start_system(port, name, env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_system(proc)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running gateway; default: start one")
    parser.add_argument("--count", type=int, default=24, help="images per case and side")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--batches", action="store_true",
                        help="batches of jobs at once instead (bench/batches.py)")
    args, rest = parser.parse_known_args(argv)
    if args.batches:
        from bench import batches
        return batches.main(rest)

    # the same images again and again: converted each time, not reused
    rows = []
    with system_at(args.url, args.port, env={"REUSE_RESULTS": "false"}) as url:
        client = SystemClient(url)
        for seed, (name, (size, options)) in enumerate(CASES.items()):
            data = photo_like(size, seed)
            engine = bench_engine(data, options, args.count)
            whole = bench_system(client, data, options, args.count, args.clients)
            rows.append((name, engine, whole))

    print(f"\n{args.count} images per case; system: {args.clients} concurrent clients, "
          f"{os.cpu_count()} CPUs\n")
    print("| case | side | images/s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for name, engine, whole in rows:
        for side, result in (("raw engine (1 process)", engine), ("whole system (HTTP)", whole)):
            print(f"| {name} | {side} | {result['images_per_s']:.2f} | {result['p50_ms']:.0f} "
                  f"| {result['p95_ms']:.0f} |")
        print(f"| {name} | system / engine | {whole['images_per_s'] / engine['images_per_s']:.2f}x "
              f"| {whole['p50_ms'] / engine['p50_ms']:.2f}x | {whole['p95_ms'] / engine['p95_ms']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
