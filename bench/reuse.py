"""Benchmark: reused results. The same images sent a second time by the same
user, against their first (converted) time, through `POST /convert`.

    python -m bench.reuse                  # starts its own system (scripts/run.sh) on port 8097
    python -m bench.reuse --url http://127.0.0.1:8080

Each side sends `--count` different photo-like images (bench.pipeline's)
with `--clients` concurrent clients; the second side sends the same bytes and
options again. Prints images/s, p50 and p95 of both, and how many of the
second side's answers came from a reused result (the X-Convertix-Job's
document says `reused`).
"""
import argparse
import concurrent.futures
import json
import os
import sys
import time

import requests

from bench.pipeline import CASES, SystemClient, photo_like, summarise, system_at


class Client(SystemClient):
    def __init__(self, url):
        super().__init__(url, prefix="bench-reuse-")

    def convert(self, data, options):
        """(seconds, reused) of one POST /convert answered with the bytes."""
        t0 = time.perf_counter()
        answer = requests.post(f"{self.api}/convert", headers=self.headers, timeout=300,
                               data={"options": json.dumps(options)},
                               files=[("file", ("bench.jpg", data))])
        seconds = time.perf_counter() - t0
        if answer.status_code != 200:
            raise RuntimeError(f"/convert answered {answer.status_code}: {answer.text[:200]}")
        job = answer.headers["X-Convertix-Job"]
        doc = requests.get(f"{self.api}/jobs/{job}", headers=self.headers, timeout=30).json()
        return seconds, doc["tasks"][0]["reused"]


def side(client, images, options, clients):
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda data: client.convert(data, options), images))
    result = summarise([seconds for seconds, _ in answers], time.perf_counter() - started)
    result["reused"] = sum(1 for _, reused in answers if reused)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running gateway; default: start one")
    parser.add_argument("--count", type=int, default=8, help="images per case and side")
    # GATEWAY.convert_concurrency_per_user (2): more /convert at once are refused (429)
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args(argv)

    rows = []
    env = {"REUSE_RESULTS": "true", "JOB_RATE_LIMIT_PER_USER": "100000 per minute"}
    with system_at(args.url, args.port, "bench-reuse", env) as url:
        client = Client(url)
        for case, (name, (size, options)) in enumerate(CASES.items()):
            images = [photo_like(size, 100 * case + n) for n in range(args.count)]
            first = side(client, images, options, args.clients)
            again = side(client, images, options, args.clients)
            rows.append((name, first, again))

    print(f"\n{args.count} different images per case, each sent twice by one user; "
          f"{args.clients} concurrent clients, POST /convert, {os.cpu_count()} CPUs\n")
    print("| case | side | images/s | p50 ms | p95 ms | reused |")
    print("|---|---|---|---|---|---|")
    for name, first, again in rows:
        for label, result in (("first time (converted)", first), ("again (reused)", again)):
            print(f"| {name} | {label} | {result['images_per_s']:.2f} | {result['p50_ms']:.0f} "
                  f"| {result['p95_ms']:.0f} | {result['reused']}/{result['images']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
