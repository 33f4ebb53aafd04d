"""End-to-end layer: the system started as `make run` starts it — `nameko run`
processes and the gateway under gunicorn — on a fresh RabbitMQ vhost, a
fresh database and storage folder, driven over real HTTP."""
import os
import random
import signal
import socket
import subprocess
import sys
import uuid

import pytest
import requests

from convertix.contract import JOB_FINAL
from tests.conftest import TEST_JWT_SECRET
from tests.helpers import stop_process_group, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MANAGEMENT = "http://localhost:15672/api"
AUTH = ("guest", "guest")

SERVICES = ["services.accounts.service", "services.jobs.service"]
# Longer than the gateway's rpc_timeout_s (30 s in config.yaml): a backend
# that does not answer shows as the gateway's 503 (which waits retry), not as
# this client giving up at the same moment the gateway does.
READ_TIMEOUT_S = 60
CONVERTER = ["services.converter.service"]


def free_port():
    """A port free now, below the kernel's ephemeral range: the processes
    started meanwhile bind their metrics servers to port 0 and connect out,
    and both draw from that range, so a port taken from it (and bound only
    seconds later) could be handed to one of them first."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            ephemeral_low = int(handle.read().split()[0])
    except OSError:  # not Linux: 49152, IANA's start of the dynamic range
        ephemeral_low = 49152
    candidates = [random.randrange(10000, ephemeral_low) for _ in range(100)] \
        if ephemeral_low > 11000 else []
    for port in candidates + [0]:  # 0: the kernel's choice, if nothing below was free
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


class Stack:
    """One running Convertix: three process groups and their logs."""

    def __init__(self, workdir, converter=CONVERTER, env=None):
        self.workdir = workdir
        self.vhost = "convertix-e2e-" + uuid.uuid4().hex[:8]
        requests.put(f"{MANAGEMENT}/vhosts/{self.vhost}", auth=AUTH,
                     timeout=30).raise_for_status()
        requests.put(f"{MANAGEMENT}/permissions/{self.vhost}/guest", auth=AUTH, timeout=30,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        self.port = free_port()
        self.env = {
            **os.environ,
            "AMQP_URI": f"pyamqp://guest:guest@localhost:5672/{self.vhost}",
            "DATABASE_URL": f"sqlite:///{workdir}/convertix.db",
            "STORAGE_ROOT": str(workdir / "storage"),
            "GATEWAY_PORT": str(self.port),
            "CONVERTIX_JWT_SECRET": TEST_JWT_SECRET,
            "CONVERSION_TIMEOUT_S": "30",
            "CONVERTER_MEMORY_MB": "1024",
            "PYTHONUNBUFFERED": "1",
            "LOG_DIR": str(workdir / "log"),  # the local log store (ndjson per process)
            # metrics: each process serves on a free port and announces it
            # here; the gateway's workers share their own folder
            "METRICS_PORT": "0",
            "METRICS_TARGETS_DIR": str(workdir / "metrics" / "targets"),
            "METRICS_MULTIPROC_DIR": str(workdir / "metrics" / "multiproc"),
            # Rate limits are shared by the gateway's workers (Redis, keyed per
            # vhost): tests that register many users from 127.0.0.1 would meet
            # them; tests of the limits themselves set their own (tests/abuse).
            "AUTH_RATE_LIMIT": "1000 per minute",
            "LOGIN_RATE_LIMIT_PER_USER": "1000 per minute",
            "JOB_RATE_LIMIT_PER_USER": "1000 per minute",  # a test may post many jobs
            # tests watch tasks pass through processing and its stages: every
            # task reports them (the default reports only tasks slower than
            # 0.5 s: tests/unit/test_stage_reports.py)
            "PROGRESS_AFTER_S": "0",
            **(env or {}),
        }
        self.scheme = "https" if self.env.get("TLS_CERT") else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.converter_modules = converter
        self.procs = {}

    def start_process(self, name, argv, **env):
        log = open(self.workdir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def start_converter(self):
        self.start_process("converter", [f"{BIN}/nameko", "run", "--config", "config.yaml",
                                         *self.converter_modules], CONVERTER_WORKERS="2")

    def start_gateway(self):
        self.start_process("gateway", [f"{BIN}/gunicorn", "-c", "gateway/gunicorn_conf.py",
                                       "gateway.wsgi:app"])

    def migrate(self):
        """`make migrate` on the stack's database, as scripts/run.sh does first."""
        done = subprocess.run([f"{BIN}/python", "-m", "infra.migrations", "upgrade"], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"migrate:\n{done.stdout}\n{done.stderr}"

    def start(self):
        self.migrate()
        self.start_process("services", [f"{BIN}/nameko", "run", "--config", "config.yaml",
                                        *SERVICES])
        self.start_converter()
        self.start_gateway()
        try:
            wait_until(self._ready, timeout=90, interval=0.25, message="the stack's /readyz")
        except BaseException:
            self.stop()  # leave no process behind
            raise
        return self

    def _ready(self):
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log(name)}")
        try:
            answer = requests.get(self.url + "/readyz", timeout=10,
                                  verify=self.env.get("TLS_CERT") or True)
        except (requests.ConnectionError, requests.Timeout):
            return False
        # ready, and a converter answers too (as scripts/run.sh waits for)
        return answer.status_code == 200 and answer.json()["checks"]["converter"] == "ok"

    def converter_ready(self):
        answer = requests.get(self.url + "/readyz", timeout=10,
                              verify=self.env.get("TLS_CERT") or True)
        return answer.json()["checks"]["converter"] == "ok"

    def stop_process(self, name, sig=signal.SIGTERM, timeout=60):
        """Signal the process group; SIGKILL it if it has not gone by `timeout`."""
        proc = self.procs.pop(name)
        if not stop_process_group(proc, sig, timeout):
            raise AssertionError(f"{name} ignored {sig!r} for {timeout}s:\n{self.log(name)}")

    def log(self, name):
        return (self.workdir / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self):
        problems = []
        for name in list(self.procs):
            try:
                self.stop_process(name, timeout=30)
            except AssertionError as exc:
                problems.append(str(exc))
        requests.delete(f"{MANAGEMENT}/vhosts/{self.vhost}", auth=AUTH, timeout=30)
        assert not problems, problems  # a component that does not stop on SIGTERM is a bug


class Api:
    """A user of the HTTP API."""

    def __init__(self, stack, username):
        self.base = stack.url + "/api/v1"
        self.session = requests.Session()
        # Per request, not session.verify: requests lets REQUESTS_CA_BUNDLE
        # from the environment override a session's setting.
        self.verify = stack.env.get("TLS_CERT") or True
        password = "password-" + username
        answer = self.session.post(f"{self.base}/auth/register", verify=self.verify, timeout=30,
                                   json={"username": username, "password": password})
        assert answer.status_code == 201, answer.text
        self.login(username, password)

    def login(self, username, password):
        answer = self.session.post(f"{self.base}/auth/login", verify=self.verify, timeout=30,
                                   json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        self.session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    def upload(self, files, options, path="/jobs"):
        import json
        return self.session.post(
            self.base + path, data={"options": json.dumps(options)},
            files=[("file", (name, data)) for name, data in files], timeout=60,
            verify=self.verify)

    def get(self, path, **kwargs):
        return self.session.get(self.base + path, timeout=READ_TIMEOUT_S, verify=self.verify,
                                **kwargs)

    def wait_final(self, job_id, timeout=120):
        def final():
            try:
                answer = self.get(f"/jobs/{job_id}")
            except requests.ConnectionError:  # the gateway is restarting
                return None
            if answer.status_code == 503:  # a backend is restarting
                return None
            doc = answer.json()
            return doc if doc["status"] in JOB_FINAL else None
        return wait_until(final, timeout=timeout, interval=0.2, message=f"job {job_id}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("stack")).start()
    yield running
    running.stop()
