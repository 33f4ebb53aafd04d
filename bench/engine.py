"""The engines alone: convertix.imaging.convert() against thumbor's PIL engine.

    python -m bench.engine                 # --count 96 --rounds 8 --processes 2
    python -m bench.engine --baseline DIR  # and the convert() of another checkout

No HTTP, no services: the same photo-like JPEGs as bench/thumbor.py (works
A and B, fixed seeds; B gets COUNT_SCALE times the conversions: each is 1/10
of A's), each engine in its own pool of processes, the sides in interleaved
rounds (the machine's other load, which drifts, falls on
both alike). thumbor runs from its own virtualenv (bench/results/thumbor-venv,
installed from PyPI once, as bench/thumbor.py does) through
bench/thumbor_engine.py; Convertix's from bench/convert_side.py. Per work
and side: img/s and its ratio to thumbor's, p50 per image, the median CPU
time per image (time.process_time in the worker: what the machine's other
load moves least) and its ratio to thumbor's, the output's bytes and its
PSNR and SSIM against a full-resolution reference (bench/quality.py). `--baseline DIR` adds the convert() of the
checkout in DIR (e.g. `git worktree add DIR <commit>`) as a third side, run
from its own processes (bench/convert_side.py): before and after a change
in one run, on the same load.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from bench import quality
from bench.pipeline import ROOT, percentile, photo_like
from bench.thumbor import RESULTS, WORKS, thumbor_executable

COUNT_SCALE = {"A": 1, "B": 10}
THUMBOR_SIDE = os.path.join(ROOT, "bench", "thumbor_engine.py")
CONVERT_SIDE = os.path.join(ROOT, "bench", "convert_side.py")


class SideProcess:
    """An engine in a pool of processes started by a script of its own (one
    pool per round; its start is not timed); the script prints
    {"seconds", "latencies"} and writes one output to `out`."""

    def __init__(self, command, out, env=None):
        self.command, self.out, self.env = command, out, env
        self.cpu = []  # CPU seconds of each conversion, over the rounds

    def __call__(self, count, _clients=None):
        answer = subprocess.run(self.command + [str(count)] + self.tail, check=True,
                                capture_output=True, text=True, env=self.env)
        result = json.loads(answer.stdout.strip().splitlines()[-1])
        self.cpu.extend(result["cpu"])
        with open(self.out, "rb") as f:
            return result["latencies"], result["seconds"], f.read()

    def close(self):
        pass


class ThumborEngine(SideProcess):
    """thumbor's engine in `processes` processes of its own virtualenv."""

    def __init__(self, python, path, options, processes):
        o = options
        ext = ".jpg" if o["format"] == "jpeg" else "." + o["format"]
        super().__init__([python, THUMBOR_SIDE, path, str(o["width"]), str(o["height"]), ext,
                          str(o["quality"])], path + ".thumbor-out")
        self.tail = [str(processes), self.out]


class ConvertEngine(SideProcess):
    """convert() of the checkout in `root`, in `processes` processes."""

    def __init__(self, root, path, options, processes):
        env = dict(os.environ, PYTHONPATH=os.path.abspath(root))
        out = f"{path}.{abs(hash(os.path.abspath(root)))}-out"
        super().__init__([sys.executable, CONVERT_SIDE, path, json.dumps(options)], out, env)
        self.tail = [str(processes), out]


def run(args):
    python = os.path.join(os.path.dirname(thumbor_executable(args.thumbor_venv)), "python")
    workdir = tempfile.mkdtemp(prefix="engine-", dir=RESULTS)
    images, sides = {}, {}
    for key, (_, size, seed, options, _) in WORKS.items():
        images[key] = photo_like(size, seed)
        path = os.path.join(workdir, f"{key}.jpg")
        with open(path, "wb") as f:
            f.write(images[key])
        sides[(key, "thumbor")] = ThumborEngine(python, path, options, args.processes)
        sides[(key, "convertix")] = ConvertEngine(ROOT, path, options, args.processes)
        if args.baseline:
            sides[(key, "baseline")] = ConvertEngine(args.baseline, path, options, args.processes)
    collected = {}
    per_round = {key: max(1, args.count * COUNT_SCALE[key] // args.rounds) for key in WORKS}
    try:
        for n in range(args.rounds):
            for key in WORKS:
                names = [name for k, name in sides if k == key]
                names = names[n % len(names):] + names[:n % len(names)]  # who goes first rotates
                for name in names:
                    latencies, seconds, out = sides[(key, name)](per_round[key], None)
                    got = collected.setdefault((key, name), {"lat": [], "s": 0.0, "out": out})
                    got["lat"].extend(latencies)
                    got["s"] += seconds
    finally:
        for side in sides.values():
            side.close()
    return {k: {"n": len(v["lat"]), "per_s": len(v["lat"]) / v["s"],
                "p50_ms": percentile(v["lat"], 0.5) * 1000,
                "cpu_ms": percentile(sides[k].cpu, 0.5) * 1000,
                "quality": quality.measure(images[k[0]], v["out"])}
            for k, v in collected.items()}


def report(args, rows):
    print(f"\nconversions per work and side in {args.rounds} interleaved rounds: "
          + ", ".join(f"{k} {args.count * COUNT_SCALE[k]}" for k in WORKS)
          + f"; {args.processes} processes per side, {os.cpu_count()} CPUs\n")
    print("| work | engine | img/s | vs thumbor | p50 ms | CPU ms per image | vs thumbor "
          "| output | PSNR, SSIM vs full-res LANCZOS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, (title, *_rest) in WORKS.items():
        base = rows[(key, "thumbor")]
        for name, label in (("thumbor", "thumbor 7 PIL engine"), ("convertix", "convertix convert()"),
                            ("baseline", f"convertix convert() of {args.baseline}")):
            if (key, name) not in rows:
                continue
            r = rows[(key, name)]
            q = r["quality"]
            print(f"| {key}: {title} | {label} | {r['per_s']:.1f} | {r['per_s'] / base['per_s']:.2f}x "
                  f"| {r['p50_ms']:.0f} | {r['cpu_ms']:.1f} | {r['cpu_ms'] / base['cpu_ms']:.2f}x "
                  f"| {q['size'][0]}x{q['size'][1]}, {q['bytes']} B | {q['psnr_db']:.2f} dB, "
                  f"{q['ssim']:.4f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=96,
                        help="A's conversions per side (B: COUNT_SCALE times as many)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--baseline", metavar="DIR", help="also the convert() of this checkout")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--thumbor-venv", default=os.path.join(RESULTS, "thumbor-venv"))
    args = parser.parse_args(argv)
    report(args, run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
