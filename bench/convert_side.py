"""convert() of the checkout on PYTHONPATH, in N processes: a baseline side
of bench/engine.py (`--baseline DIR`), so that two versions of the engine
and thumbor's are measured in one run. Needs nothing of the bench in DIR.

    PYTHONPATH=DIR python bench/convert_side.py IMAGE OPTIONS_JSON COUNT PROCESSES OUT

prints one JSON line {"seconds": ..., "latencies": [...], "cpu": [...]}, writes one output to OUT.
"""
import concurrent.futures
import json
import os
import sys
import time

# Not this file's folder first: the checkout on PYTHONPATH is the one measured.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

_state = {}


def _init(path, options):
    from convertix.imaging import capabilities, convert
    from convertix.options import validate
    with open(path, "rb") as f:
        _state.update(data=f.read(), convert=convert,
                      options=validate(options, capabilities()["output"]))
    _one(0)  # warm-up: plugin imports


def _one(_):
    t0, c0 = time.perf_counter(), time.process_time()
    data = _state["convert"](_state["data"], _state["options"]).data
    return time.perf_counter() - t0, time.process_time() - c0, data


def main(argv):
    path, options, count, processes, out = argv
    count, processes = int(count), int(processes)
    with concurrent.futures.ProcessPoolExecutor(
            processes, initializer=_init, initargs=(path, json.loads(options))) as pool:
        warm = list(pool.map(_one, range(processes)))  # one per process: imports done
        started = time.perf_counter()
        done = list(pool.map(_one, range(count)))
        seconds = time.perf_counter() - started
    with open(out, "wb") as f:
        f.write(warm[0][2])
    print(json.dumps({"seconds": seconds, "latencies": [d[0] for d in done],
                      "cpu": [d[1] for d in done]}))


if __name__ == "__main__":
    main(sys.argv[1:])
