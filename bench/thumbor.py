"""Side by side: thumbor 7 and Convertix, same images, same HTTP client.

    make bench-thumbor          # or: python -m bench.thumbor --count 48

Installs thumbor 7 into its own virtualenv (bench/results/thumbor-venv, from
PyPI, once), and runs it with 2 processes on a file loader, no storage and no
result storage (every request converts). Starts Convertix with `make run`'s
defaults (scripts/run.sh, its own var/ folder). Both get the same generated
photo-like JPEGs (fixed seeds) and the same 4-thread client, each thread
sending its next request once the previous answer is read. The raw engine
(`convertix.imaging.convert()` in 2 processes) is the bound; thumbor's engine
alone (bench/thumbor_engine.py, 2 processes) stands beside it. The sides run
in interleaved rounds, so load from elsewhere on the machine, which drifts,
falls on each of them alike. Each side's output: its size in bytes and its
PSNR and SSIM against the full-resolution decode resized with LANCZOS
(bench/quality.py).

Works:
  A: 12 MP JPEG (4000x3000) -> fit 1024 px, WebP q80
  B: 1080p JPEG (1920x1080) -> fit 256 px, JPEG q85

Then the latency with no load: `--idle-count` requests per work, one at a
time from one client, on thumbor and on both `/convert` sides (p50, and its
ratio to thumbor's).

Then, on Convertix alone:
  - CPU outside the engine per task: every process of the system (gateway,
    jobs+accounts, scaler, converter parents) and of the backends it uses
    (RabbitMQ, Redis, PostgreSQL: shared, so from a quiet machine only)
    read from /proc before and after
    batches of sequential /convert calls, the sandbox children (the engine)
    apart; the median over batches;
  - one POST of 24 A-images (~5.8 MB each): the gateway's CPU for the upload,
    and the batch's wall time against the raw engine on 2 processes.
"""
import argparse
import concurrent.futures
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
from PIL import Image

from bench import proctimes, quality
from bench.pipeline import ROOT, percentile, photo_like, start_system, stop_system
from convertix.contract import JOB_FINAL
from tests.helpers import stop_process_group

RESULTS = os.path.join(ROOT, "bench", "results")
THUMBOR_REQUIREMENT = "thumbor>=7.7,<8"
DEADLINE_S = 300
MANAGEMENT = "http://guest:guest@localhost:15672"

# name -> (title, input size, seed, Convertix options, thumbor path before the image)
WORKS = {
    "A": ("12 MP JPEG -> 1024 px WebP q80", (4000, 3000), 1,
          {"format": "webp", "width": 1024, "height": 1024, "quality": 80},
          "fit-in/1024x1024/filters:format(webp):quality(80)"),
    "B": ("1080p JPEG -> 256 px JPEG q85", (1920, 1080), 2,
          {"format": "jpeg", "width": 256, "height": 256, "quality": 85},
          "fit-in/256x256/filters:format(jpeg):quality(85)"),
}

# thumbor as a plain converter: nothing cached, nothing progressive, no
# WebP by Accept header; Convertix's defaults (baseline JPEG) are the same.
THUMBOR_CONF = """
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {root!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
ALLOW_UNSAFE_URL = True
AUTO_WEBP = False
PROGRESSIVE_JPEG = False
MAX_AGE = 0
"""


# --- the client --------------------------------------------------------------

_local = threading.local()


def _session():
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def drive(one, count, clients):
    """`count` calls of one(session) -> bytes from `clients` threads, after a
    warm-up call per thread; returns (latencies, elapsed s, an output)."""
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        warm = list(pool.map(lambda _: one(_session()), range(clients)))

        def timed(_):
            t0 = time.perf_counter()
            one(_session())
            return time.perf_counter() - t0

        started = time.perf_counter()
        latencies = list(pool.map(timed, range(count)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, warm[0]


def summary(latencies, elapsed):
    return {"n": len(latencies), "per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p95_ms": percentile(latencies, 0.95) * 1000}


def describe(data):
    """'1024x768 webp': what a result is, to check both sides made the same."""
    with Image.open(io.BytesIO(data)) as im:
        return f"{im.width}x{im.height} {im.format.lower()}"


# --- thumbor ------------------------------------------------------------------

def thumbor_executable(venv):
    exe = os.path.join(venv, "bin", "thumbor")
    if not os.path.exists(exe):
        print(f"installing {THUMBOR_REQUIREMENT} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q",
                        THUMBOR_REQUIREMENT], check=True)
    return exe


def start_thumbor(exe, images_dir, port, processes):
    conf = os.path.join(images_dir, "thumbor.conf")
    with open(conf, "w") as f:
        f.write(THUMBOR_CONF.format(root=images_dir))
    log = open(os.path.join(images_dir, "thumbor.log"), "ab")
    proc = subprocess.Popen([exe, "--port", str(port), "--ip", "127.0.0.1", "--conf", conf,
                             "--processes", str(processes), "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthcheck", timeout=2).ok:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"thumbor did not start; see {images_dir}/thumbor.log")


def thumbor_one(port, path, name):
    def one(session):
        answer = session.get(f"http://127.0.0.1:{port}/unsafe/{path}/{name}", timeout=120)
        answer.raise_for_status()
        return answer.content
    return one


# --- Convertix ----------------------------------------------------------------

class Convertix:
    """One user per client thread: /convert holds at most
    GATEWAY.convert_concurrency_per_user requests per user at once."""

    def __init__(self, url, users):
        self.api = url.rstrip("/") + "/api/v1"
        self.tokens = [self._login() for _ in range(users)]
        self.next_user = iter(range(10**9))
        self.fallbacks = 0  # /convert answers that were a 202 (then followed as a job)

    def _login(self):
        name, password = "bench-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
        requests.post(f"{self.api}/auth/register", json={"username": name, "password": password},
                      timeout=30).raise_for_status()
        return requests.post(f"{self.api}/auth/login", json={"username": name,
                             "password": password}, timeout=30).json()["access_token"]

    @property
    def headers(self):
        """This thread's user."""
        if not hasattr(_local, "token"):
            _local.token = self.tokens[next(self.next_user) % len(self.tokens)]
        return {"Authorization": f"Bearer {_local.token}"}

    def sync_one(self, data, options):
        def one(session):
            answer = session.post(f"{self.api}/convert", headers=self.headers, timeout=120,
                                  data={"options": json.dumps(options)},
                                  files=[("file", ("bench.jpg", data))])
            return self.bytes_of(session, answer)
        return one

    def raw_one(self, data, options):
        """/convert with the image as the body, the options in the query
        string (docs/SPEC.md additions): no multipart to build or parse."""
        def one(session):
            answer = session.post(f"{self.api}/convert", timeout=120, data=data,
                                  params={"options": json.dumps(options)},
                                  headers={**self.headers, "Content-Type": "image/jpeg"})
            return self.bytes_of(session, answer)
        return one

    def bytes_of(self, session, answer):
        """A /convert's result: its body, or a 202's job followed to its end."""
        answer.raise_for_status()
        if answer.status_code == 202:
            self.fallbacks += 1
            return self.finish(session, answer.json()["id"])
        return answer.content

    def async_one(self, data, options):
        def one(session):
            job_id = self.submit(session, [data], options)
            return self.finish(session, job_id)
        return one

    def submit(self, session, images, options):
        answer = session.post(f"{self.api}/jobs", headers=self.headers, timeout=300,
                              data={"options": json.dumps(options)},
                              files=[("file", (f"{i}.jpg", d)) for i, d in enumerate(images)])
        answer.raise_for_status()
        return answer.json()["id"]

    def wait(self, session, job_id, interval=0.02):
        deadline = time.monotonic() + DEADLINE_S
        while True:
            answer = session.get(f"{self.api}/jobs/{job_id}", headers=self.headers, timeout=30)
            if not answer.ok:
                raise RuntimeError(f"GET job {job_id}: {answer.status_code} {answer.text[:300]}")
            doc = answer.json()
            if doc["status"] in JOB_FINAL:
                return doc
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} not done after {DEADLINE_S} s")
            time.sleep(interval)

    def finish(self, session, job_id):
        doc = self.wait(session, job_id)
        if doc["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {doc['status']}: {doc['tasks'][0]['error']}")
        answer = session.get(f"{self.api}/jobs/{job_id}/tasks/0/result", headers=self.headers,
                             timeout=60)
        answer.raise_for_status()
        return answer.content


def own_vhost():
    vhost = "convertix-bench-" + uuid.uuid4().hex[:8]
    requests.put(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30).raise_for_status()
    requests.put(f"{MANAGEMENT}/api/permissions/{vhost}/guest", timeout=30,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    return vhost


# --- the raw engine on N processes ---------------------------------------------

_engine = {}


def _engine_init(data, options):
    from convertix.imaging import capabilities, convert
    from convertix.options import validate
    _engine.update(data=data, options=validate(options, capabilities()["output"]),
                   convert=convert)
    convert(data, _engine["options"])  # warm-up: plugin imports


def _engine_one(_):
    t0 = time.perf_counter()
    out = _engine["convert"](_engine["data"], _engine["options"])
    return time.perf_counter() - t0, out.data


class EnginePool:
    """The raw engine in `processes` processes, kept between rounds."""

    def __init__(self, data, options, processes):
        self.processes = processes
        self.pool = concurrent.futures.ProcessPoolExecutor(
            processes, initializer=_engine_init, initargs=(data, options))

    def __call__(self, count, _clients):
        first = list(self.pool.map(_engine_one, range(self.processes)))[0][1]
        started = time.perf_counter()
        latencies = [t for t, _ in self.pool.map(_engine_one, range(count))]
        return latencies, time.perf_counter() - started, first

    def close(self):
        self.pool.shutdown()


# --- CPU outside the engine -------------------------------------------------------

MESSAGES = "messages"  # cpu_per_task's (AMQP published, delivered, DB commits) per task

def cpu_per_task(root, one, batches, batch, counts=None):
    """Median over batches of sequential calls: {role: ms per task}; with
    `counts` (messages(): AMQP (published, delivered) once RabbitMQ's sampled
    stats settle; commits(): DB commits now), also those per task over all the
    batches. Commits are read right before and after the calls; the messages
    include what the timers and the scaler's polls sent while they settle."""
    per_batch = []
    session = requests.Session()
    one(session)
    if counts:
        messages, commits = counts
        pub0, del0 = messages()
        commits0 = commits()
    for _ in range(batches):
        before = proctimes.snapshot([root], backends=True)
        for _ in range(batch):
            one(session)
        spent = proctimes.spent(before, proctimes.snapshot([root], backends=True))
        per_batch.append({name: ns / 1e6 / batch for name, ns in spent.items()})
    roles = sorted({name for b in per_batch for name in b})
    out = {name: statistics.median(b.get(name, 0.0) for b in per_batch) for name in roles}
    out["outside the engine"] = statistics.median(
        sum(v for k, v in b.items() if k != "engine") for b in per_batch)
    if counts:
        commits1 = commits()
        pub1, del1 = messages()
        calls = batches * batch
        out[MESSAGES] = ((pub1 - pub0) / calls, (del1 - del0) / calls, (commits1 - commits0) / calls)
    return out


def batch_job(root, client, data, options, files, processes):
    """One POST of `files` images: gateway CPU for the upload, wall time to done."""
    session = requests.Session()
    gateway = lambda: {p: v for p, v in proctimes.snapshot([root]).items()  # noqa: E731
                       if v[0] == "gateway"}
    before = gateway()
    t0 = time.perf_counter()
    job_id = client.submit(session, [data] * files, options)
    upload_cpu_s = sum(proctimes.spent(before, gateway()).values()) / 1e9
    doc = client.wait(session, job_id, interval=0.2)  # not the client's CPU against it
    wall = time.perf_counter() - t0
    if doc["status"] != "succeeded":
        raise RuntimeError(f"batch job {job_id} {doc['status']}")
    with concurrent.futures.ProcessPoolExecutor(processes, initializer=_engine_init,
                                                initargs=(data, options)) as pool:
        list(pool.map(_engine_one, range(processes)))
        t0 = time.perf_counter()
        list(pool.map(_engine_one, range(files)))
        engine_wall = time.perf_counter() - t0
    return {"files": files, "mb": len(data) * files / 2**20, "upload_cpu_s": upload_cpu_s,
            "wall_s": wall, "engine_s": engine_wall}


# --- main -------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=48, help="requests per work and side")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--processes", type=int, default=2,
                        help="thumbor processes and raw-engine processes")
    parser.add_argument("--url", help="a running Convertix gateway; default: start one")
    parser.add_argument("--port", type=int, default=8097, help="Convertix, when started here")
    parser.add_argument("--thumbor-port", type=int, default=8898)
    parser.add_argument("--thumbor-venv", default=os.path.join(RESULTS, "thumbor-venv"))
    parser.add_argument("--cpu-batches", type=int, default=6)
    parser.add_argument("--cpu-batch", type=int, default=8)
    parser.add_argument("--batch-files", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=4,
                        help="each side runs count/rounds requests per round, in turn")
    parser.add_argument("--no-async", action="store_true", help="skip POST /jobs + polling")
    parser.add_argument("--idle-count", type=int, default=30,
                        help="sequential requests per work and side, one client (no load)")
    args = parser.parse_args(argv)

    exe = thumbor_executable(args.thumbor_venv)
    images = {key: photo_like(size, seed) for key, (_, size, seed, _, _) in WORKS.items()}
    workdir = tempfile.mkdtemp(prefix="thumbor-", dir=RESULTS)
    for key, data in images.items():
        with open(os.path.join(workdir, f"{key}.jpg"), "wb") as f:
            f.write(data)

    rows, cpu, batch, idle = {}, {}, None, {}
    # Its own vhost: another system on this broker would otherwise answer its
    # RPCs and consume its tasks. The scaler's metrics port off: it may be taken.
    vhost = None if args.url else own_vhost()
    thumbor = system = None
    engines = {key: EnginePool(images[key], work[3], args.processes)
               for key, work in WORKS.items()}
    from bench.engine import ThumborEngine  # it imports this module
    python = os.path.join(os.path.dirname(exe), "python")
    thumbor_engines = {key: ThumborEngine(python, os.path.join(workdir, f"{key}.jpg"), work[3],
                                          args.processes) for key, work in WORKS.items()}
    try:
        thumbor = start_thumbor(exe, workdir, args.thumbor_port, args.processes)
        targets_dir = os.path.join(ROOT, "var", "bench-thumbor", "metrics", "targets")
        system = None if args.url else start_system(args.port, "bench-thumbor", {
            "METRICS_TARGETS_DIR": targets_dir,
            "SCALER_METRICS_PORT": "0", "JOB_RATE_LIMIT_PER_USER": "100000 per minute",
            # thumbor runs without result storage: every request converts on both sides
            "REUSE_RESULTS": "false",
            "AMQP_URI": f"pyamqp://guest:guest@localhost:5672/{vhost}"})
        client = Convertix(args.url or f"http://127.0.0.1:{args.port}", args.clients)
        sides = {}
        for key, (_, _, _, options, path) in WORKS.items():
            sides[(key, "thumbor")] = thumbor_one(args.thumbor_port, path, f"{key}.jpg")
            sides[(key, "convert")] = client.sync_one(images[key], options)
            sides[(key, "raw")] = client.raw_one(images[key], options)
            if not args.no_async:
                sides[(key, "async")] = client.async_one(images[key], options)
        # Rounds, each side in turn (rotated): the machine's other load, which
        # drifts, falls on every side alike.
        per_round = max(1, args.count // args.rounds)
        collected = {}
        for n in range(args.rounds):
            for key in WORKS:
                names = [name for k, name in sides if k == key] + ["engine", "thumbor-engine"]
                names = names[n % len(names):] + names[:n % len(names)]
                for name in names:
                    one = {"engine": engines, "thumbor-engine": thumbor_engines}.get(name, {}).get(key)
                    if one is None:
                        result = drive(sides[(key, name)], per_round, args.clients)
                    else:
                        result = one(per_round, args.clients)
                    got = collected.setdefault((key, name), ([], [0.0], result[2]))
                    got[0].extend(result[0])
                    got[1][0] += result[1]
        rows = {k: (summary(lat, el[0]), out, quality.measure(images[k[0]], out))
            for k, (lat, el, out) in collected.items()}
        # Latency with no load: one request at a time, each side in turn.
        idle = {(key, name): summary(*drive(sides[(key, name)], args.idle_count, 1)[:2])
                for key in WORKS for name in IDLE_SIDES if (key, name) in sides}
        if system:  # needs the process tree
            from bench.batches import commits, settled_counts  # it imports this module
            counts = (lambda: settled_counts(vhost, targets_dir)[0],
                      lambda: commits(targets_dir))
            for key, (_, _, _, options, _) in WORKS.items():
                cpu[key] = cpu_per_task(system.pid, client.sync_one(images[key], options),
                                        args.cpu_batches, args.cpu_batch, counts)
                cpu[f"{key}, raw body"] = cpu_per_task(
                    system.pid, client.raw_one(images[key], options),
                    args.cpu_batches, args.cpu_batch, counts)
            batch = batch_job(system.pid, client, images["A"], WORKS["A"][3],
                              args.batch_files, args.processes)
    finally:
        for engine in engines.values():
            engine.close()
        if thumbor:
            stop_process_group(thumbor, timeout=60)
        if system:
            stop_system(system)
        if vhost:
            requests.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", timeout=30)

    report(args, rows, cpu, batch, client.fallbacks, idle)
    return 0


SIDES = (("thumbor", "thumbor 7, {p} processes"), ("convert", "Convertix POST /convert"),
         ("raw", "Convertix POST /convert, raw body"),
         ("async", "Convertix POST /jobs + poll 20 ms"), ("engine", "raw convert(), {p} processes"),
         ("thumbor-engine", "thumbor's engine alone, {p} processes"))


# The sides whose latency with no load is compared: the HTTP ones.
IDLE_SIDES = ("thumbor", "convert", "raw")


def report(args, rows, cpu, batch, fallbacks, idle):
    print(f"\n{args.count} requests per work and side in {args.rounds} interleaved rounds, "
          f"{args.clients} client threads, {os.cpu_count()} CPUs\n")
    print("| work | side | img/s | p50 ms | p95 ms | vs thumbor | output | bytes, PSNR, SSIM vs full-res |")
    print("|---|---|---|---|---|---|---|---|")
    for key, (title, *_rest) in WORKS.items():
        base = rows[(key, "thumbor")][0]["per_s"]
        for side, label in SIDES:
            if (key, side) not in rows:
                continue
            result, output, q = rows[(key, side)]
            print(f"| {key}: {title} | {label.format(p=args.processes)} | {result['per_s']:.1f} "
                  f"| {result['p50_ms']:.0f} | {result['p95_ms']:.0f} "
                  f"| {result['per_s'] / base:.2f}x | {describe(output)} | {quality.describe(q)} |")
    if idle:
        print(f"\nLatency with no load: {args.idle_count} sequential requests per work and side, "
              "one client\n")
        print("| work | side | p50 ms | p95 ms | p50 vs thumbor |")
        print("|---|---|---|---|---|")
        for (key, side), result in idle.items():
            base = idle[(key, "thumbor")]["p50_ms"]
            print(f"| {key} | {dict(SIDES)[side].format(p=args.processes)} "
                  f"| {result['p50_ms']:.1f} | {result['p95_ms']:.1f} "
                  f"| {result['p50_ms'] / base:.2f}x |")
    if fallbacks:
        print(f"\n({fallbacks} /convert calls answered 202 and were followed as jobs)")
    if cpu:
        roles = sorted({name for per in cpu.values() for name in per}
                       - {"outside the engine", MESSAGES})
        print(f"\nCPU per task, ms (median of {args.cpu_batches} batches of {args.cpu_batch} "
              "sequential /convert calls)\n")
        print("| work | " + " | ".join(roles) + " | outside the engine |")
        print("|---" * (len(roles) + 2) + "|")
        for key, per in cpu.items():
            print(f"| {key} | " + " | ".join(f"{per.get(r, 0):.1f}" for r in roles)
                  + f" | {per['outside the engine']:.1f} |")
        if any(MESSAGES in per for per in cpu.values()):
            print("\nPer /convert call, the same calls: AMQP messages published and delivered "
                  "(the vhost's, RabbitMQ's sampled stats: the timers' and the scaler's polls "
                  "while they settle included), database commits (every process's /metrics, "
                  "read right before and after)\n")
            print("| work | AMQP published | AMQP delivered | DB commits |")
            print("|---|---|---|---|")
            for key, per in cpu.items():
                if MESSAGES in per:
                    published, delivered, commits = per[MESSAGES]
                    print(f"| {key} | {published:.2f} | {delivered:.2f} | {commits:.2f} |")
    if batch:
        print(f"\nbatch: one POST of {batch['files']} A-images ({batch['mb']:.0f} MB): gateway CPU "
              f"for the upload {batch['upload_cpu_s']:.2f} s; job done in {batch['wall_s']:.1f} s "
              f"against {batch['engine_s']:.1f} s for the raw engine on {args.processes} processes "
              f"({batch['wall_s'] / batch['engine_s']:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
