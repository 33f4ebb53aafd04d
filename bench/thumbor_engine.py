"""thumbor's PIL engine alone, in N processes: the other side of bench/engine.py.

Runs inside thumbor's own virtualenv (bench/results/thumbor-venv), so it
imports nothing of Convertix. It does what a thumbor request does to the
image once the loader has its bytes: Engine.load(), resize() to the fit-in
size (which asks Pillow for draft() to that size, then LANCZOS) and read()
in the asked format and quality, with the defaults of bench/thumbor.py's
configuration.

    <thumbor-venv>/bin/python bench/thumbor_engine.py IMAGE WIDTH HEIGHT EXT QUALITY COUNT PROCESSES OUT

prints one JSON line: {"seconds": wall time of COUNT conversions,
"latencies": [s, ...], "cpu": [CPU s of each conversion, ...]} and writes one output to OUT.
"""
import concurrent.futures
import json
import os
import sys
import time

# This file's folder holds bench/thumbor.py, which would shadow thumbor itself.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

_state = {}


def _engine():
    from thumbor.config import Config
    from thumbor.context import Context
    from thumbor.engines.pil import Engine
    config = Config(PROGRESSIVE_JPEG=False, AUTO_WEBP=False)
    return Engine(Context(config=config))


def fit_in(width, height, box_w, box_h):
    """thumbor's fit-in size (never larger than the box, aspect kept)."""
    scale = min(box_w / width, box_h / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _init(path, box, ext, quality):
    with open(path, "rb") as f:
        _state.update(data=f.read(), box=box, ext=ext, quality=quality)
    _one(0)  # warm-up: plugin imports


def _one(_):
    t0, c0 = time.perf_counter(), time.process_time()
    engine = _engine()
    engine.load(_state["data"], ".jpg")
    engine.normalize()
    engine.resize(*fit_in(*engine.size, *_state["box"]))
    data = engine.read(_state["ext"], _state["quality"])
    return time.perf_counter() - t0, time.process_time() - c0, data


def main(argv):
    path, box_w, box_h, ext, quality, count, processes, out = argv
    box, count, processes = (int(box_w), int(box_h)), int(count), int(processes)
    with concurrent.futures.ProcessPoolExecutor(
            processes, initializer=_init, initargs=(path, box, ext, int(quality))) as pool:
        warm = list(pool.map(_one, range(processes)))  # one per process: imports done
        first = warm[0][2]
        started = time.perf_counter()
        done = list(pool.map(_one, range(count)))
        seconds = time.perf_counter() - started
    with open(out, "wb") as f:
        f.write(first)
    print(json.dumps({"seconds": seconds, "latencies": [d[0] for d in done],
                      "cpu": [d[1] for d in done]}))


if __name__ == "__main__":
    main(sys.argv[1:])
