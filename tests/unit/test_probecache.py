"""Start-up probes remembered on disk (convertix/imaging/probecache.py): the
first process computes, the others read; a folder or file that is not ours
alone is not believed; a sandbox child reads the remembered policy verdict."""
import json
import os
import subprocess
import sys

import pytest

from convertix.imaging import probecache
from convertix.imaging.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value
    return compute, calls


def test_computed_once_then_read(tmp_path):
    folder = str(tmp_path / "probes")
    compute, calls = counting({"output": ["png", "webp"]})
    assert probecache.remembered("caps", compute, folder) == {"output": ["png", "webp"]}
    assert probecache.remembered("caps", compute, folder) == {"output": ["png", "webp"]}
    assert len(calls) == 1
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700"
    (entry,) = os.listdir(folder)
    assert entry == f"caps-{probecache.fingerprint()}.json"


def test_a_folder_others_may_write_is_not_believed(tmp_path):
    folder = tmp_path / "probes"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o777)
    compute, calls = counting(1)
    probecache.remembered("caps", compute, str(folder))
    probecache.remembered("caps", compute, str(folder))
    assert len(calls) == 2 and os.listdir(folder) == []


@pytest.mark.parametrize("spoil", ["symlink", "group-writable", "garbage"])
def test_a_spoiled_entry_is_computed_again(tmp_path, spoil):
    folder = tmp_path / "probes"
    folder.mkdir(mode=0o700)
    path = folder / f"caps-{probecache.fingerprint()}.json"
    if spoil == "symlink":
        (tmp_path / "elsewhere.json").write_text(json.dumps({"value": "forged"}))
        path.symlink_to(tmp_path / "elsewhere.json")
    elif spoil == "group-writable":
        path.write_text(json.dumps({"value": "forged"}))
        os.chmod(path, 0o664)
    else:
        path.write_text("{not json")
    compute, calls = counting("probed")
    assert probecache.remembered("caps", compute, str(folder)) == "probed"
    assert len(calls) == 1


def test_the_fingerprint_follows_the_environment_and_the_packages(monkeypatch):
    before = probecache.fingerprint.__wrapped__()
    monkeypatch.setenv("MAGICK_CONFIGURE_PATH", "/elsewhere")  # ours, always overridden
    assert probecache.fingerprint.__wrapped__() == before
    monkeypatch.setenv("MAGICK_THREAD_LIMIT", "4")
    assert probecache.fingerprint.__wrapped__() != before
    monkeypatch.delenv("MAGICK_THREAD_LIMIT")
    monkeypatch.setattr(probecache, "_distributions", lambda: ["Pillow-99.0.dist-info"])
    assert probecache.fingerprint.__wrapped__() != before


@pytest.fixture
def own_python(tmp_path):
    """This venv's interpreter under another path: its children have a
    fingerprint of their own, so a forged entry touches no other process."""
    venv = os.path.dirname(os.path.dirname(sys.executable))
    home = tmp_path / "venv"
    (home / "bin").mkdir(parents=True)
    os.symlink(os.path.realpath(sys.executable), home / "bin" / "python")
    os.symlink(os.path.join(venv, "lib"), home / "lib")
    with open(os.path.join(venv, "pyvenv.cfg")) as f:
        (home / "pyvenv.cfg").write_text(f.read())
    python = str(home / "bin" / "python")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ROOT}  # as the sandbox starts it
    code = "from convertix.imaging import probecache; print(probecache.fingerprint())"
    fingerprint = subprocess.run([python, "-c", code], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout.strip()
    assert fingerprint != probecache.fingerprint()
    return python, fingerprint


def test_a_sandbox_child_reads_the_remembered_policy_verdict(own_python):
    """A verdict stored under the child's fingerprint is what the child goes
    by: a forged "text: was read" makes it refuse to start, so it did not run
    the probe itself."""
    python, fingerprint = own_python
    path = os.path.join(probecache.cache_dir(), f"magick-policy-{fingerprint}.json")
    try:
        with open(path, "w") as f:
            json.dump({"value": {"text": "read", "msl": "read"}}, f)
        with pytest.raises(RuntimeError, match="does not block"):
            Sandbox(memory_mb=1024, python=python).start()
        os.unlink(path)
        with Sandbox(memory_mb=1024, python=python) as sandbox:
            sandbox.start()  # without it, the child probes: the real policy blocks both
        with open(path) as f:
            assert json.load(f)["value"] != {"text": "read", "msl": "read"}
    finally:
        if os.path.exists(path):
            os.unlink(path)
