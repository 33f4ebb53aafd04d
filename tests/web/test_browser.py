"""Runs tests/web/browser (the page in Debian's Chromium) in a child pytest
without eventlet's monkey patch (see tests/web/conftest.py)."""
import os
import subprocess
import sys

import pytest

from tests.web.conftest import PATCHED

pytestmark = [pytest.mark.processes, pytest.mark.browser]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


@pytest.mark.skipif(not PATCHED, reason="not under nameko test: pytest collects browser/ itself")
def test_the_page_in_chromium(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", os.path.join(HERE, "browser"), "-p", "no:nameko",
         "-p", "no:cacheprovider", "-q", "-rA", "-x", "--basetemp", str(tmp_path / "run"),
         "-W", "ignore::DeprecationWarning"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    print(run.stdout[-20000:], run.stderr[-5000:])
    print("screenshots under", tmp_path / "run")
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
