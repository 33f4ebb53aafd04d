"""A real Prometheus (Debian's package) run by the tests, with the shipped
deploy/prometheus.yml rewritten for a test: its own targets folder, a short
scrape interval, absolute paths. Everything else (the scrape jobs, RabbitMQ's
endpoints, the alert rules) is the shipped file's."""
import os
import shutil
import subprocess

import requests
import yaml

from tests.e2e.conftest import free_port
from tests.helpers import stop_process_group, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
SHIPPED_CONFIG = os.path.join(DEPLOY, "prometheus.yml")
FILE_SD_JOB = "convertix"


def binary(name):
    path = shutil.which(name)
    assert path, (f"{name} is not installed: scripts/install-system.sh installs Debian's "
                  "`prometheus` package (make test runs it)")
    return path


def shipped_config():
    with open(SHIPPED_CONFIG) as handle:
        return yaml.safe_load(handle)


def config_for_test(targets_dir, interval="1s"):
    """The shipped config, pointed at `targets_dir` and scraping every `interval`."""
    config = shipped_config()
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [os.path.join(DEPLOY, path) for path in config["rule_files"]]
    for job in config["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [os.path.join(targets_dir, os.path.basename(f)) for f in sd["files"]]
            sd["refresh_interval"] = interval
    return config


class Prometheus:
    def __init__(self, workdir, config):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.config_path = os.path.join(workdir, "prometheus.yml")
        with open(self.config_path, "w") as handle:
            yaml.safe_dump(config, handle)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary("prometheus"), f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={os.path.join(self.workdir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(self._ready, timeout=60, interval=0.2, message="Prometheus /-/ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log()}")
        try:
            return requests.get(self.url + "/-/ready", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()[-4000:]

    def api(self, path, **params):
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        """An instant query: [(labels, value)]."""
        data = self.api("query", query=expr)
        return [(sample["metric"], float(sample["value"][1])) for sample in data["result"]]

    def value(self, expr):
        """The value of a query with one result, None while it has none."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return result[0][1] if result else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_process_group(self.proc)
