"""Swarm layer: converters as a real Docker Swarm service on this machine.

The Docker engine and a single-node swarm are started by
scripts/start-docker.sh (which `make test` and .ci/run run too); the session
fixture runs it again (idempotent, about a second) and fails, never skips,
when it does not succeed.

No base image can be pulled here, so the containers run the stand-in image
`convertix-base:local` (busybox only, scripts/build-standin-image.sh) with
this checkout, its virtualenv and the Python it was made from bind-mounted
read-only at the same paths, on the host network (so 127.0.0.1 is the host's
RabbitMQ). The storage folder is bind-mounted read-write. Every service this
run creates is named with a unique prefix and labelled with the run's id, and
removed at the end.
"""
import os
import subprocess
import sys
import uuid

import pytest
import requests

from convertix.contract import CONVERT_QUEUE, CONVERTER_EVENTS_EXCHANGE
from convertix.storage import Storage
from tests.e2e.conftest import AUTH, BIN, MANAGEMENT, ROOT, SERVICES, Stack
from tests.helpers import wait_until

RUN_ID = uuid.uuid4().hex[:8]
PREFIX = f"cvxtest-{RUN_ID}"
RUN_LABEL = "convertix.test-run"
IMAGE = os.environ.get("STANDIN_IMAGE", "convertix-base:local")
CONVERSION_TIMEOUT_S = 30
STOP_GRACE_S = CONVERSION_TIMEOUT_S + 10    # >= the conversion timeout
SECOND_NS = 10**9


def start_docker():
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "start-docker.sh")],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail("scripts/start-docker.sh failed: the swarm tests cannot run "
                    f"(exit {done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def docker_client():
    start_docker()
    import docker

    client = docker.from_env(timeout=120)
    assert client.info()["Swarm"]["LocalNodeState"] == "active"
    yield client
    # leave nothing behind: whatever a failed test did not remove
    for service in client.services.list(filters={"label": f"{RUN_LABEL}={RUN_ID}"}):
        service.remove()
    client.close()


def unique_name(what):
    return f"{PREFIX}-{what}-{uuid.uuid4().hex[:4]}"


def host_paths():
    """Host folders a container needs to run this checkout's Python code:
    the system's libraries, the interpreter (e.g. a pyenv root), the checkout
    and its virtualenv, each at its own path."""
    # /lib, /lib64 and /sbin are links into /usr on a merged-/usr host, and
    # then the stand-in image has the same links (build-standin-image.sh)
    paths = ["/usr", "/etc"] + [p for p in ("/lib", "/lib64", "/sbin")
                                if os.path.isdir(p) and not os.path.islink(p)]
    for path in (sys.base_prefix, ROOT, sys.prefix):
        path = os.path.realpath(path)
        if not any(path == p or path.startswith(p + "/") for p in paths):
            paths.append(path)
    return paths


def code_mounts(storage_root):
    from docker.types import Mount

    mounts = [Mount(target=path, source=path, type="bind", read_only=True)
              for path in host_paths()]
    mounts.append(Mount(target=str(storage_root), source=str(storage_root), type="bind"))
    return mounts


def container_env(stack, **extra):
    env = {k: v for k, v in stack.env.items()
           if k in ("AMQP_URI", "DATABASE_URL", "STORAGE_ROOT", "CONVERTIX_JWT_SECRET",
                    "CONVERSION_TIMEOUT_S", "CONVERTER_MEMORY_MB", "PYTHONUNBUFFERED",
                    "PROGRESS_AFTER_S")}  # 0: every task reports its start (tests count them)
    # the checkout is read-only in the container: what a process writes goes to its /tmp
    env.update({"HOME": "/tmp", "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
                "METRICS_PORT": "0", "METRICS_TARGETS_DIR": "/tmp/metrics/targets",
                "METRICS_MULTIPROC_DIR": "/tmp/metrics/multiproc",
                "LOG_DIR": "/tmp/log"})
    env.update({k: str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in env.items()]


class SwarmStack(Stack):
    """The e2e Stack's jobs+accounts (and optionally gateway) processes on the
    host, with converters as a Swarm service instead of a process."""

    def __init__(self, workdir, client, **kwargs):
        super().__init__(workdir, **kwargs)
        (workdir / "storage").mkdir(exist_ok=True)
        self.env["CONVERSION_TIMEOUT_S"] = str(CONVERSION_TIMEOUT_S)
        # one task per message: these tests count the tasks each replica
        # holds, and a chunk would put a job's small tasks all on one
        self.env["CHUNK_MAX_TASKS"] = "1"
        self.client = client
        self.storage = Storage(str(workdir / "storage"))
        self.services = []

    def start_services(self):
        self.migrate()
        self.start_process("services", [f"{BIN}/nameko", "run", "--config", "config.yaml",
                                        *SERVICES])
        wait_until(self.rpc_answers, timeout=90, interval=0.25, message="the jobs service")
        return self

    def rpc_answers(self):
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log(name)}")
        try:
            return self.rpc("jobs", "ping", timeout=5)
        except Exception:
            return False

    def rpc(self, service, method, *args, timeout=30, **kwargs):
        from nameko.standalone.rpc import ClusterRpcProxy

        with ClusterRpcProxy({"AMQP_URI": self.env["AMQP_URI"]}, timeout=timeout) as proxy:
            return getattr(getattr(proxy, service), method)(*args, **kwargs)

    def create_converter_service(self, replicas, module="services.converter.service",
                                 workers=1, **env):
        from docker.types import RestartPolicy, ServiceMode

        name = unique_name("converter")
        self.client.services.create(
            IMAGE, name=name,
            # infra.runner: `nameko run` without its start-up SIGTERM race
            command=[f"{BIN}/python", "-m", "infra.runner", "--config", "config.yaml", module],
            labels={RUN_LABEL: RUN_ID}, container_labels={RUN_LABEL: RUN_ID},
            env=container_env(self, CONVERTER_WORKERS=workers, **env),
            workdir=ROOT, mounts=code_mounts(self.storage.root), networks=["host"],
            mode=ServiceMode("replicated", replicas=replicas),
            # graceful scale-down: SIGTERM, then time for the work in flight
            stop_signal="SIGTERM", stop_grace_period=STOP_GRACE_S * SECOND_NS,
            init=True,  # docker-init as PID 1 forwards the signal and reaps
            restart_policy=RestartPolicy(condition="on-failure", delay=2 * SECOND_NS))
        self.services.append(name)
        return name

    def service_logs(self, name, tail=60):
        try:
            raw = self.client.api.service_logs(name, stdout=True, stderr=True, tail=tail,
                                               timestamps=False)
            return b"".join(raw).decode(errors="replace")
        except Exception as exc:  # noqa: BLE001  (diagnostics only)
            return f"(no logs: {exc})"

    def remove_services(self):
        for name in self.services:
            try:
                self.client.api.remove_service(name)
            except Exception:  # noqa: BLE001  (already gone)
                pass
        self.services = []

    def stop(self):
        try:
            self.remove_services()
        finally:
            super().stop()

    # --- jobs without the gateway: inputs into storage, then jobs.create_job ---

    def create_job(self, images, options, user_id="swarm-tester"):
        job_id = uuid.uuid4().hex
        for index, data in enumerate(images):
            self.storage.write(self.storage.input_path(job_id, index), data)
        files = [{"filename": f"{n}.png", "format": "png", "bytes": len(d)}
                 for n, d in enumerate(images)]
        self.rpc("jobs", "create_job", job_id, user_id, options, files, timeout=120)
        return job_id

    def job(self, job_id, user_id="swarm-tester"):
        return self.rpc("jobs", "get_job", job_id, user_id)

    def queue(self):
        """The conversion queue as the management API sees it (lags by seconds)."""
        answer = requests.get(f"{MANAGEMENT}/queues/{self.vhost}/{CONVERT_QUEUE}",
                              auth=AUTH, timeout=10)
        return answer.json() if answer.status_code == 200 else {}


def task_states(client, service):
    return [(t["ID"], t["Status"]["State"], t.get("DesiredState"))
            for t in client.api.tasks(filters={"service": service})]


def wait_running(backend, count, timeout=90, stack=None):
    def reached():
        return backend.running() == count and len(backend.running_task_ids()) == count
    try:
        wait_until(reached, timeout=timeout, interval=0.5,
                   message=f"{count} running replicas of {backend.service_name}")
    except AssertionError:
        logs = stack.service_logs(backend.service_name) if stack else ""
        raise AssertionError(
            f"{backend.service_name}: {task_states(backend.client, backend.service_name)}\n"
            f"{logs}") from None


def converters_consume(stack, count, timeout=90):
    """Wait until `count` converters consume the conversion queue (each replica
    is one consumer): the replicas are ready, not only started. A passive
    declare answers at once; the management API's figures lag by seconds."""
    from kombu import Connection

    def consumers():
        with Connection(stack.env["AMQP_URI"], connect_timeout=5) as conn:
            _, _, found = conn.default_channel.queue_declare(
                queue=CONVERT_QUEUE, passive=True)
            return found == count
    wait_until(consumers, timeout=timeout, interval=0.5,
               message=f"{count} consumers on the conversion queue")


class EventTap:
    """Counts the converter's task events (what the jobs service receives
    too), per (job_id, index), on a queue of its own bound before the work."""

    def __init__(self, amqp_uri, events=("task_started", "task_succeeded")):
        from kombu import Connection, Exchange, Queue

        self.conn = Connection(amqp_uri)
        exchange = Exchange(CONVERTER_EVENTS_EXCHANGE, type="topic", durable=True)
        self.queue = Queue(f"{PREFIX}-tap-{uuid.uuid4().hex[:6]}", exchange=exchange,
                           routing_key=events[0], exclusive=True, auto_delete=True)
        self.bound = self.queue(self.conn.default_channel)
        self.bound.declare()
        for event in events[1:]:
            self.bound.bind_to(exchange=exchange, routing_key=event)

    def counts(self):
        import collections
        import json

        counts = collections.Counter()
        while (message := self.bound.get(no_ack=True)) is not None:
            body = json.loads(message.body)
            counts[(message.delivery_info["routing_key"], body["job_id"], body["index"])] += 1
        return counts

    def close(self):
        self.conn.close()
