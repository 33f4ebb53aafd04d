"""Deploy layer: the real images on a real three-node Swarm on this machine.

The module's fixture builds every image from Debian's packages and PyPI
(scripts/build-images.sh: cached between runs on one machine), starts three
Docker engines, each in a network namespace of its own, as one swarm
(scripts/swarm-nodes.sh), and deploys deploy/docker-stack.yml on it
(scripts/deploy-stack.sh). The tests talk to the gateway container on the edge
node's address, and to the engines through their sockets. Everything is torn
down when the layer ends (not the whole session: three engines and the stack
would take CPU from the layers after it), also when a test fails: the engines, their namespaces, the
bridge, their data. Nothing here touches the default engine (tests/swarm).

The nodes use their own prefix, subnet and folders, so a `make deploy` of a
user on the same machine is left alone.
"""
import os
import shutil
import subprocess
import time

import pytest

from tests.e2e.conftest import ROOT
from tests.helpers import wait_until

STACK = "convertix"
SUBNET = "10.213.14"
NODES_ENV = {
    "CVX_NODES_PREFIX": "cvxt",
    "CVX_NODES_SUBNET": SUBNET,
    "CVX_NODES_STATE": "/var/lib/convertix-nodes-test",
    "CVX_NODES_RUN": "/run/convertix-nodes-test",
    "CVX_NODES_ADDR_POOL": "10.215.0.0/16",
}
# the scaler of the test stack: 1..3 converters, back down after 20 s idle
# REUSE_RESULTS off: the tests send the same image again and again to load
# the converters; a reused result would never reach one.
STACK_ENV = {"STACK": STACK, "SCALER_MIN_REPLICAS": "1", "SCALER_MAX_REPLICAS": "3",
             "SCALER_DOWN_WINDOW_S": "20", "REUSE_RESULTS": "false",
             "STALL_DUMP_DIR": "/data/storage/debug"}
URL = f"http://{SUBNET}.1:8080"
URL2 = f"http://{SUBNET}.3:8080"   # the second edge node's gateway


def script(name, *args, timeout=900, env=None):
    """Run scripts/NAME; its output on failure; seconds it took."""
    start = time.monotonic()
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **NODES_ENV, **(env or {})})
    assert done.returncode == 0, (f"scripts/{name} {' '.join(args)} failed "
                                  f"({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - start, done.stdout


class Deployment:
    """The deployed stack: the nodes' engines and the gateway's address."""

    url = URL
    url2 = URL2
    run = NODES_ENV["CVX_NODES_RUN"]

    def __init__(self, storage):
        import docker

        self.storage = storage
        self.edge = docker.DockerClient(base_url=f"unix://{self.run}/edge/docker.sock",
                                        timeout=120)
        self.processing = docker.DockerClient(
            base_url=f"unix://{self.run}/processing/docker.sock", timeout=120)

    def docker(self, *args, node="edge", timeout=120):
        done = subprocess.run(["docker", "-H", f"unix://{self.run}/{node}/docker.sock", *args],
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def service(self, name):
        return self.edge.services.get(f"{STACK}_{name}")

    def tasks(self, name, state="running"):
        """The service's tasks in `state`, each with its node's host name."""
        nodes = {n.id: n.attrs["Description"]["Hostname"] for n in self.edge.nodes.list()}
        return [dict(task, node=nodes.get(task.get("NodeID")))
                for task in self.service(name).tasks()
                if task["Status"]["State"] == state and task["DesiredState"] == "running"]

    def replicas(self, name):
        spec = self.edge.api.inspect_service(self.service(name).id)["Spec"]
        return spec["Mode"]["Replicated"]["Replicas"]

    def node_state(self, hostname):
        for node in self.edge.nodes.list():
            if node.attrs["Description"]["Hostname"] == hostname:
                return node.attrs["Status"]["State"]
        return None

    def engine(self, action, node):
        script("swarm-nodes.sh", action, node, timeout=180)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    storage = tmp_path_factory.mktemp("deploy") / "storage"
    timings = {}
    try:
        timings["images"], out = script("build-images.sh", timeout=1800)
        print(out)
        timings["nodes"], out = script("swarm-nodes.sh", "up", timeout=300)
        print(out)
        timings["stack"], out = script("deploy-stack.sh", timeout=900,
                                       env={**STACK_ENV, "STORAGE_DIR": str(storage)})
        print(out)
        print("deploy layer set-up (s):", {k: round(v) for k, v in timings.items()})
        deployment = Deployment(storage)
        yield deployment
    finally:
        try:
            save_logs(storage.parent / "logs")
            script("swarm-nodes.sh", "down", timeout=300)
        finally:
            shutil.rmtree(NODES_ENV["CVX_NODES_STATE"], ignore_errors=True)


def save_logs(folder):
    """The services' logs, kept after the nodes are gone (a failed run's evidence)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("gateway", "services", "rabbitmq-1", "rabbitmq-2", "rabbitmq-3"):
        try:
            done = subprocess.run(
                ["docker", "-H", f"unix://{NODES_ENV['CVX_NODES_RUN']}/edge/docker.sock",
                 "service", "logs", "--no-trunc", "--timestamps", f"{STACK}_{name}"],
                capture_output=True, text=True, timeout=60)
            (folder / f"{name}.log").write_text(done.stdout + done.stderr)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"no logs of {name}: {exc}")
    for node in ("edge", "edge2", "processing"):
        save_broker_logs(folder, node)
    print(f"the services' logs: {folder}")


def save_broker_logs(folder, node):
    """The RabbitMQ members' own log files on `node`, of every container that
    ran there, stopped ones too: the members write to a file, not to the
    container's output, which `docker service logs` reads."""
    docker = ["docker", "-H", f"unix://{NODES_ENV['CVX_NODES_RUN']}/{node}/docker.sock"]
    try:
        listed = subprocess.run(docker + ["ps", "-a", "-q", "-f", f"name={STACK}_rabbitmq"],
                                capture_output=True, text=True, timeout=60)
        for container in listed.stdout.split():
            subprocess.run(docker + ["cp", f"{container}:/var/log/rabbitmq/startup_log",
                                     str(folder / f"rabbitmq-{node}-{container}.log")],
                           capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"no broker logs of {node}: {exc}")


def wait_replicas(deployment, name, count, timeout):
    """Until the service wants `count` replicas and exactly that many run."""
    return wait_until(lambda: deployment.replicas(name) == count
                      and len(deployment.tasks(name)) == count,
                      timeout=timeout, interval=1, message=f"{name} at {count} replicas")


def kernel_does_esp():
    """Whether this kernel can add the IPsec SA an encrypted overlay needs
    (the probe scripts/deploy-stack.sh makes before it deploys)."""
    probe = f"cvx-esp-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", probe], check=True)
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", probe, "ip", "xfrm", "state", "add", "src", "192.0.2.1",
             "dst", "192.0.2.2", "proto", "esp", "spi", "0x100", "reqid", "1", "mode",
             "transport", "aead", "rfc4106(gcm(aes))",
             "0x0102030405060708090a0b0c0d0e0f1011121314", "64"], capture_output=True)
        return done.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe])
