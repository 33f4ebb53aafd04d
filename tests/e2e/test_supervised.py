"""The system as `make run` starts it (scripts/run.sh: supervisord and its
components), in a temporary CONVERTIX_VAR on free ports: a component killed
under load is back within seconds and nothing is lost; a component that
keeps failing at start is reported and the others keep serving; Ctrl-C and
`make stop` stop it all."""
import glob
import io
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests
from PIL import Image

from convertix.contract import JOB_FINAL
from infra.supervise import state
from tests.e2e.conftest import ROOT, Api, Stack, free_port
from tests.helpers import corpus_bytes, wait_until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

BACK_WITHIN_S = 10          # a killed component is back (new process, /readyz ready)
START_TIMEOUT_S = 180       # `make run` ready on a busy machine (migrations, five processes)
LOAD_JOBS = 30
LOAD_SPAN_S = 60            # the jobs are submitted over this long
RETRY_FOR_S = 60            # a refused submission is retried this long
PHOTOS = ["photos/skimage/coins.png", "photos/skimage/horse.png", "photos/skimage/rocket.jpg"]
OPTIONS = {"format": "webp", "width": 64}
JOB_HEADER = "X-Convertix-Job"


class Supervised(Stack):
    """`bash scripts/run.sh` with a Stack's environment (its own vhost,
    database, storage, ports) and CONVERTIX_VAR in its folder."""

    def __init__(self, workdir, env=None):
        self.var = workdir / "var"
        self.scaler_metrics_port = free_port()
        super().__init__(workdir, env={
            "CONVERTIX_VAR": str(self.var),
            "SCALER_METRICS_PORT": str(self.scaler_metrics_port),
            "SCALER_MIN_REPLICAS": "1", "SCALER_MAX_REPLICAS": "2", "SCALER_POLL_S": "0.5",
            "WEBHOOK_ALLOW_PRIVATE": "true",
            **(env or {})})
        self.console_path = workdir / "console.log"
        self.server_url = f"unix://{self.var}/run/supervisor.sock"
        self.run = None
        self.pgids = set()  # every component's process group seen, for the cleanup

    def start_run(self):
        console = open(self.console_path, "ab")
        self.run = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=self.env,
                                    stdout=console, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: self._alive() and os.path.exists(self.server_url[7:]),
                   timeout=START_TIMEOUT_S, interval=0.25, message="supervisord's socket")
        return self

    def _alive(self):
        if self.run.poll() is not None:
            raise AssertionError(f"run.sh exited ({self.run.returncode}):\n{self.console()}")
        return True

    def console(self):
        return self.console_path.read_text(errors="replace")[-6000:]

    def component_log(self, name):
        return (self.var / "log" / f"{name}.log").read_text(errors="replace")

    def supervisor(self):
        return state.supervisor(self.server_url, timeout=10)

    def pid(self, name):
        """The component's pid now; 0 while it is not running."""
        pid = self.supervisor().getProcessInfo(name)["pid"]
        if pid:
            self.pgids.add(pid)
        return pid

    def readyz(self):
        try:
            answer = requests.get(self.url + "/readyz", timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            return None
        return answer.json() if answer.status_code == 200 else None

    def converters(self):
        """The pids of the scaler's converter replicas."""
        scaler = self.pid("scaler")
        return {pid for pid in _children(scaler) if b"services.converter.service" in _cmdline(pid)}

    def announced(self, component, pid):
        """The process's metrics target file exists: it started its services."""
        targets = self.env["METRICS_TARGETS_DIR"]
        return bool(glob.glob(os.path.join(targets, f"{component}@*@{pid}.json")))

    def restarts(self):
        """convertix_component_restarts_total by component, from the watcher's /metrics."""
        (path,) = glob.glob(os.path.join(self.env["METRICS_TARGETS_DIR"], "supervisor@*.json"))
        with open(path) as handle:
            (target,) = json.load(handle)
        text = requests.get(f"http://{target['targets'][0]}/metrics", timeout=10).text
        return {m[1]: float(m[2]) for m in re.finditer(
            r'convertix_component_restarts_total\{component="([^"]+)"\} (\S+)', text)}

    def stop_run(self, how="make stop", timeout=240):
        """Stop as a person would: `make stop` (scripts/stop.sh) or Ctrl-C."""
        if how == "ctrl-c":
            os.killpg(self.run.pid, signal.SIGINT)  # what a terminal sends its foreground group
        else:
            subprocess.run(["bash", "scripts/stop.sh"], cwd=ROOT, env=self.env, timeout=timeout,
                           check=True, capture_output=True)
        return self.run.wait(timeout=timeout)

    def cleanup(self):
        """Whatever happened: nothing left running, the vhost gone."""
        try:
            if self.run is not None and self.run.poll() is None:
                try:
                    self.stop_run(timeout=240)
                except Exception:
                    os.killpg(self.run.pid, signal.SIGKILL)
            for pgid in self.pgids:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        finally:
            requests.delete(f"http://localhost:15672/api/vhosts/{self.vhost}",
                            auth=("guest", "guest"), timeout=30)


def _children(pid):
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the parent's pid
            found.add(int(stat.split("/")[2]))
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (not yet reaped by whoever inherited it) is gone too
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def supervised(tmp_path):
    stacks = []

    def start(env=None):
        stack = Supervised(tmp_path, env=env)
        stacks.append(stack)
        return stack.start_run()
    yield start
    for stack in stacks:
        stack.cleanup()


class Load:
    """One user submitting LOAD_JOBS jobs of three photos over LOAD_SPAN_S,
    each with a webhook; a refused submission (no connection, 5xx, 429) is
    tried again for up to RETRY_FOR_S."""

    def __init__(self, api, callback_url):
        self.api, self.callback_url = api, callback_url
        self.accepted, self.given_up, self.refusals, self.unexpected = [], [], [], []
        self.files = [(os.path.basename(p), corpus_bytes(p)) for p in PHOTOS]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _submit(self):
        started = time.monotonic()
        while time.monotonic() - started < RETRY_FOR_S:
            try:
                answer = self.api.session.post(
                    self.api.base + "/jobs", files=[("file", f) for f in self.files],
                    data={"options": json.dumps(OPTIONS), "callback_url": self.callback_url},
                    timeout=90)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.refusals.append(type(exc).__name__)
            else:
                if answer.status_code == 202:
                    return answer.json()["id"]
                if answer.status_code < 500 and answer.status_code != 429:
                    self.unexpected.append((answer.status_code, answer.text))  # not a refusal
                    return None
                self.refusals.append(answer.status_code)
            time.sleep(0.5)
        return None

    def _run(self):
        begun = time.monotonic()
        for n in range(LOAD_JOBS):
            time.sleep(max(0.0, begun + n * LOAD_SPAN_S / LOAD_JOBS - time.monotonic()))
            job_id = self._submit()
            (self.accepted if job_id else self.given_up).append(job_id or n)


def back_within_s():
    """BACK_WITHIN_S on a machine whose cores are not oversubscribed (up to
    2 runnable processes per core); longer in proportion where they are (a
    CI machine shared with other jobs: a start takes longer there, whatever
    the supervisor does)."""
    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return BACK_WITHIN_S * max(1.0, per_core / 2)


def history(api):
    """Every job of the user, whatever its submission's answer was."""
    jobs, cursor = [], None
    while True:
        answer = api.get("/jobs", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        jobs += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return jobs


def test_each_component_killed_under_load_is_back_and_nothing_is_lost(supervised):
    stack = supervised()
    wait_until(lambda: stack._alive() and (stack.readyz() or {}).get("checks", {})
               .get("converter") == "ok", timeout=START_TIMEOUT_S, interval=0.5,
               message="make run's /readyz with a converter")
    supervisord = stack.supervisor().getPID()
    api = Api(stack, "steady")

    def ready(converter=False):
        doc = stack.readyz()
        return bool(doc) and doc["status"] == "ready" and (
            not converter or doc["checks"]["converter"] == "ok")

    # name -> (the old pid, the new pid once it is back, or None)
    def supervised_back(name, check):
        def back(old):
            new = stack.pid(name)
            return new if new and new != old and check(new) and ready() else None
        return stack.pid, back

    def converter_pid(_name):
        (pid, *_) = sorted(stack.converters()) or [0]
        return pid

    def converter_back(old):
        new = converter_pid(None)
        return new if new and new != old and ready(converter=True) else None

    targets = {
        "services": supervised_back("services", lambda pid: True),
        "notifier": supervised_back("notifier", lambda pid: stack.announced("notifier", pid)),
        "scaler": supervised_back("scaler", lambda pid: _answers(stack.scaler_metrics_port)),
        "gateway": supervised_back("gateway", lambda pid: stack.announced("gateway", pid)),
        "converter": (converter_pid, converter_back),
    }
    figures, bounds = {}, {}
    with Receiver() as receiver:
        load = Load(api, receiver.url())
        load.thread.start()
        notifier_killed_at = None
        for name, (pid_of, back) in targets.items():
            before = len(load.accepted)
            wait_until(lambda: len(load.accepted) >= before + 2 or not load.thread.is_alive(),
                       timeout=RETRY_FOR_S * 2, interval=0.2, message="jobs accepted meanwhile")
            old = wait_until(lambda: pid_of(name), timeout=60, interval=0.2,
                             message=f"{name}'s pid")
            os.kill(old, signal.SIGKILL)
            killed = time.monotonic()
            if name == "notifier":
                notifier_killed_at = time.time()
            wait_until(lambda: back(old), timeout=120, interval=0.1,
                       message=f"{name} back after kill -9")
            figures[name] = time.monotonic() - killed
            bounds[name] = back_within_s()
            if name == "scaler":  # its replicas drained with it: a converter answers again
                wait_until(lambda: ready(converter=True), timeout=120, interval=0.2,
                           message="a converter after the scaler's restart")
                figures["scaler (a converter again)"] = time.monotonic() - killed
            assert stack.supervisor().getPID() == supervisord and stack.run.poll() is None
        load.thread.join(timeout=LOAD_SPAN_S + RETRY_FOR_S * 3)

        # Every accepted job, and every job the user has (a submission cut
        # off by the gateway's death may have made one), ends succeeded.
        finals = {job_id: api.wait_final(job_id, timeout=300) for job_id in load.accepted}
        def all_final():
            jobs = history(api)
            return jobs if all(j["status"] in JOB_FINAL for j in jobs) else None
        everything = wait_until(all_final, timeout=300, interval=1,
                                message="every job in the history final")
        with_hooks = {j["id"] for j in everything}

        def every_hook():
            got = {r["headers"].get(JOB_HEADER) for r in receiver.requests}
            return with_hooks <= got
        wait_until(every_hook, timeout=180, interval=0.5, message="every webhook")
        posts = {}
        for request in receiver.requests:
            posts.setdefault(request["headers"].get(JOB_HEADER), []).append(request)

    print("\nback after kill -9 (s): " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
          + "; bounds (s): " + ", ".join(f"{k} {v:.0f}" for k, v in bounds.items()))
    print(f"jobs accepted {len(load.accepted)}, given up {len(load.given_up)}, finished "
          f"{sum(1 for d in finals.values() if d['status'] == 'succeeded')} succeeded; "
          f"{len(everything)} in the history; refusals retried: {load.refusals}")
    assert stack.run.poll() is None and stack.supervisor().getPID() == supervisord
    assert not load.unexpected
    assert not load.given_up and len(load.accepted) == LOAD_JOBS
    assert {d["status"] for d in finals.values()} == {"succeeded"}
    assert {j["status"] for j in everything} == {"succeeded"}
    for job_id in load.accepted[:: max(1, LOAD_JOBS // 6)]:  # results are real images
        for index in range(len(PHOTOS)):
            answer = api.get(f"/jobs/{job_id}/tasks/{index}/result")
            assert answer.status_code == 200, answer.text
            image = Image.open(io.BytesIO(answer.content))
            assert image.format == "WEBP" and image.width == OPTIONS["width"]
    # Once each: a second POST only for a webhook sent at the very moment
    # the notifier was killed (its attempt was not recorded: at least once).
    assert set(posts) == with_hooks
    twice = {job_id: got for job_id, got in posts.items() if len(got) > 1}
    assert len(twice) <= 1, list(twice)
    for job_id, got in twice.items():
        assert len(got) == 2 and abs(got[0]["at"] - notifier_killed_at) < 5, (job_id, got)
    for name, bound in bounds.items():
        assert figures[name] <= bound, (figures, bounds)
    restarts = stack.restarts()
    for name in ("services", "notifier", "scaler", "gateway"):
        assert restarts[name] >= 1, restarts
        # killed within its first seconds (supervisord's startsecs) it "exited at start"
        assert re.search(rf"supervisor: {name} (\(pid \d+\) exited|exited at start) "
                         rf"\(terminated by SIGKILL", stack.component_log(name)), name

    assert stack.stop_run("make stop") == 0
    assert "stopped" in stack.console()
    assert all(_gone(pid) for pid in stack.pgids), stack.pgids


def _answers(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_a_component_failing_at_start_is_reported_and_the_others_serve(supervised):
    # The scaler's metrics port is taken: it exits at start, every time.
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = free_port()
    taken.bind(("0.0.0.0", port))
    taken.listen()
    stack = supervised(env={"SCALER_METRICS_PORT": str(port)})
    stack.scaler_metrics_port = port
    try:
        def failing():
            stack._alive()
            doc = stack.readyz()
            return doc if doc and doc.get("failing") == ["scaler"] else None
        doc = wait_until(failing, timeout=START_TIMEOUT_S + 60, interval=0.5,
                         message="/readyz naming the scaler as failing")
        assert doc["status"] == "ready" and doc["components"]["scaler"] == "FATAL"
        assert doc["checks"]["jobs"] == doc["checks"]["accounts"] == "ok"
        assert {doc["components"][n] for n in ("services", "notifier", "gateway")} <= {
            "RUNNING", "STARTING"}
        wait_until(lambda: "convertix: scaler keeps failing" in stack.console(), timeout=30,
                   interval=0.2, message="the console's report")
        assert "the other components keep running" in stack.console()
        log = stack.component_log("scaler")
        assert "convertix: scaler keeps failing" in log
        assert re.search(r"supervisor: scaler exited at start \(exit status \d+", log)

        # the others serve: an account, a job accepted (it waits for a converter)
        api = Api(stack, "patient")
        answer = api.upload([(os.path.basename(PHOTOS[0]), corpus_bytes(PHOTOS[0]))], OPTIONS)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert api.get(f"/jobs/{job_id}").json()["status"] == "queued"
    finally:
        taken.close()
    # Its cause fixed, one command starts it again, and the job is done.
    assert stack.supervisor().startProcess("scaler", False)  # not waiting for RUNNING
    assert api.wait_final(job_id, timeout=180)["status"] == "succeeded"
    assert (stack.readyz() or {}).get("failing") == []
    for name in ("services", "notifier", "scaler", "gateway", "watcher"):
        stack.pid(name)

    assert stack.stop_run("ctrl-c") == 0  # Ctrl-C stops it all, gracefully
    assert "stopped" in stack.console()
    assert all(_gone(pid) for pid in stack.pgids), stack.pgids
