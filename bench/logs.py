"""What one log line costs the code that logs it, with Elasticsearch up, hanging or down.

    .venv/bin/python -m bench.logs [--lines 20000]

Plain threads, as in the gateway's gunicorn workers. The "Elasticsearch" is
tests/fake_elasticsearch.py (an 8.x look-alike on this machine): up, then
hanging (accepts, answers after 60 s), then down (connection refused). Each
case logs `--lines` lines through a ConvertixHandler and reports the time of
each `logger.info()` call, and how many lines reached the server.
"""
import argparse
import logging
import statistics
import tempfile
import time

from infra.logs import context
from infra.logs.setup import ConvertixHandler, LogSettings
from tests.fake_elasticsearch import FakeElasticsearch


def timed(logger, lines):
    times = []
    with context.bound(trace_id="b" * 32, job_id="bench-job", user_id="bench"):
        for n in range(lines):
            started = time.perf_counter()
            logger.info("bench line %d", n)
            times.append(time.perf_counter() - started)
    times.sort()
    return {"p50_us": statistics.median(times) * 1e6,
            "p99_us": times[int(len(times) * 0.99)] * 1e6,
            "max_ms": times[-1] * 1e3,
            "lines_per_s": lines / sum(times)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()
    fake = FakeElasticsearch().start()
    folder = tempfile.mkdtemp(prefix="convertix-bench-logs-")
    results = {}
    for case in ("local store only", "ES up", "ES hanging", "ES down"):
        settings = LogSettings.from_section({
            "dir": f"{folder}/{len(results)}", "buffer_size": 10000, "batch_size": 500,
            "elasticsearch_url": "" if case == "local store only" else fake.url,
            "max_backoff_s": 1})
        handler = ConvertixHandler(settings, name="bench")
        logger = logging.getLogger(f"bench.{len(results)}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        if case == "ES hanging":
            fake.delay_s = 60
        elif case == "ES down":
            fake.stop()
        before = fake.count()
        results[case] = timed(logger, args.lines)
        if case == "ES up":
            handler.shipper.flush(timeout=60)
        results[case]["shipped"] = fake.count() - before
        logger.removeHandler(handler)
        if case in ("ES hanging", "ES down"):
            handler.shipper.close(timeout=0.1)
        else:
            handler.close()
    print(f"{args.lines} lines per case; time of one logger.info() call")
    print(f"{'case':18} {'p50 us':>8} {'p99 us':>8} {'max ms':>8} {'lines/s':>9} {'shipped':>8}")
    for case, r in results.items():
        print(f"{case:18} {r['p50_us']:8.0f} {r['p99_us']:8.0f} {r['max_ms']:8.1f} "
              f"{r['lines_per_s']:9.0f} {r['shipped']:8d}")


if __name__ == "__main__":
    main()
