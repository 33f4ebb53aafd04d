"""Installed under a private folder (a clone in /root or a Debian home, both
0700), the sandbox still reads its own code: it drops to a uid of its own,
which cannot enter that folder, so what a library loads lazily (Wand's
wand.sequence, ImageMagick's policy.xml) must come through its mount view or
be loaded before the drop. The corpus converts from a copy of the code in a
0700 folder, in a process of its own started there."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.corpus_cases import MAGICK_ONLY, ROWS, VALID
from tests.helpers import corpus_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Convert each file in a sandbox started from the copy; then, in a probe
# sandbox (the same confinement), read a file of the copy never loaded before.
SCRIPT = """
import json, sys
from convertix.errors import ConvertixError
from convertix.imaging import Limits, Sandbox
from tests.sandbox_probe import run
paths, never_loaded = json.loads(sys.argv[1])
results = {}
with Sandbox() as box:
    box.start()
    for path in paths:
        try:
            out = box.convert(open(path, "rb").read(), {"format": "png"}, Limits(), timeout_s=60)
            results[path] = [out.width, out.height]
        except ConvertixError as exc:
            results[path] = f"{exc.code}: {exc.message}"
with Sandbox(module="tests.sandbox_probe") as probe:
    probe.start()
    got = run(probe, f"result = len(open({never_loaded!r}, 'rb').read())")
print(json.dumps({"results": results, "read": got, "confinement": box.confinement}))
"""


def _one_of_each_format():
    by_format = {}
    for row in ROWS:
        if row["path"] in VALID:
            by_format.setdefault(row["format"], row["path"])
    return sorted(set(by_format.values()) | set(MAGICK_ONLY))


@pytest.mark.skipif(os.geteuid() != 0, reason="a uid of its own needs root (CI runs as root)")
def test_corpus_converts_from_a_copy_in_a_0700_folder():
    private = tempfile.mkdtemp(prefix="convertix-private-")  # 0700, owned by root
    try:
        assert os.stat(private).st_mode & 0o777 == 0o700
        repo = os.path.join(private, "repo")
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(os.path.join(ROOT, "convertix"), os.path.join(repo, "convertix"), ignore=skip)
        os.makedirs(os.path.join(repo, "tests"))
        for name in ("__init__.py", "sandbox_probe.py"):
            shutil.copy(os.path.join(ROOT, "tests", name), os.path.join(repo, "tests", name))
        paths = [corpus_path(p) for p in _one_of_each_format()]
        never_loaded = os.path.join(repo, "convertix", "imaging", "magick", "policy.xml")
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, json.dumps([paths, never_loaded])], cwd=repo,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": repo},
            capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])
        failed = {p: r for p, r in report["results"].items() if not isinstance(r, list)}
        assert failed == {}, report["confinement"]
        assert len(report["results"]) == len(paths)
        assert report["read"].get("result") == os.path.getsize(never_loaded), report
    finally:
        shutil.rmtree(private)
