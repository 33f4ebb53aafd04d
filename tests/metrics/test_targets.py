"""The target files Prometheus discovers processes by, and the order that
gunicorn's multiprocess mode depends on."""
import json
import os
import subprocess
import sys

import pytest

from infra import metrics_targets
from infra.config.schema import PROMETHEUS_MULTIPROC_ENV
from tests.metrics.prometheus import ROOT


def test_announce_writes_file_sd_and_withdraw_removes_it(tmp_path):
    path = metrics_targets.announce(str(tmp_path), "converter", "0.0.0.0", 4321)
    (group,) = json.loads(open(path).read())
    assert group["targets"] == ["127.0.0.1:4321"]  # all interfaces: announced as loopback
    assert group["labels"]["component"] == "converter"
    assert group["labels"]["pid"] == str(os.getpid())
    https = metrics_targets.announce(str(tmp_path), "gateway", "10.0.0.5", 443, scheme="https")
    assert json.loads(open(https).read())[0]["labels"]["__scheme__"] == "https"
    metrics_targets.withdraw(path)
    metrics_targets.withdraw(path)  # twice is fine
    assert not os.path.exists(path)


def test_files_of_dead_processes_on_this_host_are_pruned(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = metrics_targets.announce(str(tmp_path), "jobs", "127.0.0.1", 1)
    stale = metrics_targets.target_path(str(tmp_path), "converter", pid=dead.pid)
    open(stale, "w").write("[]")
    elsewhere = tmp_path / f"converter@another-host@{dead.pid}.json"
    elsewhere.write_text("[]")
    metrics_targets.announce(str(tmp_path), "converter", "127.0.0.1", 2)
    assert os.path.exists(live)
    assert not os.path.exists(stale)
    assert elsewhere.exists()  # only that host can tell whether its pid runs


def python(code):
    env = {key: value for key, value in os.environ.items()
           if key != PROMETHEUS_MULTIPROC_ENV}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=60)


def test_gunicorn_config_helpers_do_not_import_prometheus_client():
    # gunicorn_conf.py imports these before it sets PROMETHEUS_MULTIPROC_DIR
    done = python("import sys; from infra import metrics_multiproc, metrics_targets; "
                  "print('prometheus_client' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("too_early", [True, False])
def test_multiprocess_mode_refuses_a_late_environment_variable(tmp_path, too_early):
    first = "import prometheus_client; " if too_early else ""
    done = python(first + "from infra import metrics_multiproc as m; "
                  f"m.use_multiprocess({str(tmp_path / 'mp')!r}); m.start({str(tmp_path / 'mp')!r})")
    if too_early:
        assert done.returncode != 0 and "imported before" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "mp").is_dir()
