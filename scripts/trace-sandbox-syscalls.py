#!/usr/bin/env python3
"""Which system calls would the sandbox's allow list refuse? Run as root from
the repository root: `PYTHONPATH=$PWD .venv/bin/python scripts/trace-sandbox-syscalls.py`.

Every corpus file goes to PNG, one file of each input format to every
output format, through a sandbox whose filter logs instead of refusing
(Sandbox(trace_syscalls=True): SCMP_ACT_LOG). The kernel writes each call
the list lacks to its log (audit type=1326); this prints their names, with
the number of calls. Nothing printed: convertix/imaging/syscalls.py is
enough for this corpus. Run it after upgrading Pillow, pillow-heif, Wand,
ImageMagick, pyvips or cairosvg.
"""
import collections
import re
import subprocess
import sys

import pyseccomp

from convertix.errors import ConvertixError
from convertix.imaging import Limits, Sandbox, capabilities, syscalls
from tests.helpers import corpus_bytes, corpus_rows

AUDIT = re.compile(r"type=1326 .*? pid=(\d+) .*? syscall=(\d+)")


def kernel_log():
    return subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout.splitlines()


def requests():
    outputs = capabilities()["output"]
    seen = set()
    for row in corpus_rows():
        yield row["path"], {"format": "png"}
        if row["expectation"] == "valid" and row["format"] not in seen:
            seen.add(row["format"])
            for fmt in outputs:
                yield row["path"], {"format": fmt, "width": 40, "quality": 50,
                                    "strip_metadata": False}


def main():
    before = len(kernel_log())
    pids = set()
    box = Sandbox(trace_syscalls=True)
    for path, options in requests():
        if box._proc is None:
            box.start()
        pids.add(box._proc.pid)
        try:
            box.convert(corpus_bytes(path), options, Limits(), timeout_s=60)
        except ConvertixError:
            pass  # bad files fail; only their system calls matter here
        except Exception as exc:  # a crash or a timeout: noted, the next one gets a fresh child
            print(f"{path} {options}: {type(exc).__name__}: {exc}", file=sys.stderr)
    box.close()
    calls = collections.Counter()
    for line in kernel_log()[before:]:
        match = AUDIT.search(line)
        if match and int(match[1]) in pids:
            name = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, int(match[2])).decode()
            if name not in syscalls.NOT_IMPLEMENTED:  # refused by design (ENOSYS), glibc falls back
                calls[name] += 1
    for name, count in sorted(calls.items()):
        print(name, count)


if __name__ == "__main__":
    sys.exit(main())
