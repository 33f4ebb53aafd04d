"""deploy/docker-stack.yml deploys on this machine's single-node swarm, and an
upload through its gateway converts.

The one node carries every node label, so every placement constraint of the
three-node layout is met. What cannot exist here is substituted, and only
that (see `local_variant`):
- the application image -> the busybox stand-in with this checkout mounted;
- the overlay network -> the host network (dockerd runs without bridge and
  iptables here), so published ports go too: the gateway listens on a free port;
- the NFS storage volume -> a bind mount of a test folder;
- rabbitmq and postgres (upstream images, not pullable) -> deployed with 0
  replicas; the secrets point the application at the host's RabbitMQ (a
  fresh vhost) and PostgreSQL (a fresh database).
Secrets stay Swarm secrets, created by the test under a unique prefix.
"""
import os
import subprocess

import pytest
import requests
import yaml
from PIL import Image

from tests.conftest import TEST_JWT_SECRET, fresh_postgres_database
from tests.e2e.conftest import AUTH, BIN, MANAGEMENT, ROOT, Api, free_port
from tests.helpers import corpus_bytes, wait_until
from tests.swarm.conftest import IMAGE, PREFIX, RUN_ID, RUN_LABEL, host_paths

STACK_FILE = os.path.join(ROOT, "deploy", "docker-stack.yml")
APP_SERVICES = ("gateway", "services", "notifier", "converter", "scaler")
INFRA_SERVICES = ("rabbitmq", "postgres", "redis")
LABELS = ("convertix.edge", "convertix.processing", "convertix.data")


def infra_services(stack):
    """RabbitMQ (its cluster's members), PostgreSQL, Redis: what the host's own stand in for."""
    return [name for name in stack["services"] if name not in APP_SERVICES]


def local_variant(stack, storage, port):
    """The stack file with this machine's substitutions (module docstring)."""
    stack = dict(stack)
    for name in APP_SERVICES:
        service = stack["services"][name]
        service["image"] = IMAGE
        # the image's entrypoint, from the mounted checkout, run by busybox sh
        service["entrypoint"] = ["/bin/sh", f"{ROOT}/deploy/entrypoint.sh"]
        service["working_dir"] = ROOT
        env = service.setdefault("environment", {})
        env.update({"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp",
                    "METRICS_PORT": "0", "METRICS_TARGETS_DIR": "/tmp/metrics/targets",
                    "METRICS_MULTIPROC_DIR": "/tmp/metrics/multiproc",
                    "LOG_DIR": "/tmp/log", "SCALER_METRICS_PORT": "0"})
        volumes = [v for v in service.get("volumes", []) if not str(v).startswith("storage:")]
        volumes += [{"type": "bind", "source": p, "target": p, "read_only": True}
                    for p in host_paths()]
        volumes.append({"type": "bind", "source": str(storage), "target": "/data/storage"})
        service["volumes"] = volumes
    stack["services"]["gateway"]["environment"].update(
        {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": "1",
         "RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/0"})   # the host's Redis
    stack["services"]["gateway"]["healthcheck"]["test"] = [
        "CMD", "python", "deploy/healthcheck.py", "http", f"http://127.0.0.1:{port}/healthz"]
    # one of each on one host: one port; one replica per node at most anyway
    stack["services"]["gateway"]["deploy"].update({"mode": "replicated", "replicas": 1})
    for name in ("services", "notifier"):
        stack["services"][name]["deploy"]["replicas"] = 1
    stack["services"]["gateway"]["healthcheck"].update({"interval": "3s", "start_period": "5s"})
    for name in infra_services(stack):
        stack["services"][name]["deploy"]["replicas"] = 0
    for service in stack["services"].values():
        service.pop("ports", None)
        service["networks"] = ["hostnet"]
        service.setdefault("deploy", {}).setdefault("labels", {})[RUN_LABEL] = RUN_ID
    stack["networks"] = {"hostnet": {"external": True, "name": "host"}}
    stack["volumes"] = {k: v for k, v in stack["volumes"].items() if k != "storage"}
    return stack


@pytest.fixture
def postgres_db():
    with fresh_postgres_database("convertix_stack_") as url:
        yield url


@pytest.fixture
def vhost():
    name = f"{PREFIX}-stack"
    requests.put(f"{MANAGEMENT}/vhosts/{name}", auth=AUTH, timeout=30).raise_for_status()
    requests.put(f"{MANAGEMENT}/permissions/{name}/guest", auth=AUTH, timeout=30,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    yield name
    requests.delete(f"{MANAGEMENT}/vhosts/{name}", auth=AUTH, timeout=30)


def docker(*args, env=None, timeout=120):
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_stack_deploys_on_one_node_and_an_upload_converts(
        tmp_path, docker_client, postgres_db, vhost):
    node = docker_client.nodes.list(filters={"role": "manager"})[0]
    spec = node.attrs["Spec"]
    labels = spec.get("Labels") or {}
    if any(labels.get(label) != "true" for label in LABELS):
        node.update({**spec, "Labels": {**labels, **{label: "true" for label in LABELS}}})

    name = f"{PREFIX}-stack".replace("-", "_")
    prefix = f"{name}_secret"
    secrets = {
        "jwt_secret": TEST_JWT_SECRET,
        "amqp_uri": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
        "database_url": postgres_db,
        "rabbitmq_management_url": "http://guest:guest@127.0.0.1:15672",
        "rabbitmq_conf": "default_user = convertix\ndefault_pass = unused-here\n",
        "postgres_password": "unused-here",
        "rabbitmq_erlang_cookie": "unused-here",
    }
    created = [docker_client.secrets.create(name=f"{prefix}_{key}", data=value.encode(),
                                            labels={RUN_LABEL: RUN_ID})
               for key, value in secrets.items()]
    storage = tmp_path / "storage"
    storage.mkdir()
    port = free_port()
    with open(STACK_FILE) as handle:
        stack = local_variant(yaml.safe_load(handle), storage, port)
    stack_file = tmp_path / "stack.yml"
    stack_file.write_text(yaml.safe_dump(stack, sort_keys=False))

    env = {"SECRET_PREFIX": prefix, "SWARM_SERVICE": f"{name}_converter"}
    try:
        docker("stack", "deploy", "--resolve-image", "never", "--detach=true",
               "-c", str(stack_file), name, env=env)
        services = {s.name: s for s in docker_client.services.list(
            filters={"label": f"com.docker.stack.namespace={name}"})}
        assert set(services) == {f"{name}_{s}" for s in stack["services"]}
        assert set(INFRA_SERVICES) <= {s.rstrip("-123") for s in infra_services(stack)}
        # placement by node label, as in the file
        gateway = services[f"{name}_gateway"].attrs["Spec"]["TaskTemplate"]
        assert gateway["Placement"]["Constraints"] == ["node.labels.convertix.edge == true"]
        converter = services[f"{name}_converter"].attrs["Spec"]["TaskTemplate"]
        assert converter["ContainerSpec"]["StopGracePeriod"] == 90 * 10**9
        assert converter["ContainerSpec"]["StopSignal"] == "SIGTERM"
        assert [s["SecretName"] for s in gateway["ContainerSpec"]["Secrets"]] == [
            f"{prefix}_amqp_uri", f"{prefix}_database_url", f"{prefix}_jwt_secret"]

        url = f"http://127.0.0.1:{port}"

        def ready():
            try:
                answer = requests.get(url + "/readyz", timeout=5)
            except requests.RequestException:
                return False
            return answer.status_code == 200 and answer.json()["checks"]["converter"] == "ok"
        try:
            wait_until(ready, timeout=150, interval=1, message="the stack's gateway /readyz")
        except AssertionError:
            raise AssertionError(_diagnose(docker_client, name)) from None

        class _Stack:  # what tests.e2e's Api needs
            env = {}
        _Stack.url = url
        api = Api(_Stack, "stack-user")
        answer = api.upload([("hopper.jpg", corpus_bytes("valid/jpeg/hopper.jpg"))],
                            {"format": "webp", "width": 64})
        assert answer.status_code == 202, answer.text
        doc = api.wait_final(answer.json()["id"], timeout=90)
        assert doc["status"] == "succeeded", doc
        result = api.get(f"/jobs/{doc['id']}/tasks/0/result")
        assert result.headers["Content-Type"] == "image/webp"
        with Image.open(__import__("io").BytesIO(result.content)) as image:
            assert image.format == "WEBP" and image.width == 64
        # the converter wrote it into the shared storage (the bind-mounted volume)
        assert list(storage.glob(f"jobs/{doc['id']}/output/0.webp"))

        # the gateway's health check passes (Docker runs it in the container)
        def gateway_healthy():
            for task in docker_client.api.tasks(filters={"service": f"{name}_gateway",
                                                         "desired-state": "running"}):
                cid = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
                if cid:
                    health = docker_client.api.inspect_container(cid)["State"].get("Health")
                    return health and health["Status"] == "healthy"
            return False
        wait_until(gateway_healthy, timeout=60, interval=1, message="a healthy gateway")
        # the scaler runs with the swarm backend and sees the converter service
        try:
            status = _rpc(vhost, "scaler", "status")
        except AssertionError:
            raise AssertionError(_diagnose(docker_client, name)) from None
        assert status["backend"]["backend"] == "swarm"
        assert status["backend"]["service"] == f"{name}_converter"
    finally:
        subprocess.run(["docker", "stack", "rm", name], capture_output=True, timeout=120)
        wait_until(lambda: not docker_client.services.list(
            filters={"label": f"com.docker.stack.namespace={name}"}),
            timeout=120, interval=0.5, message="the stack's services to go")
        # secrets can go once no container uses them
        for secret in created:
            wait_until(lambda: _removed(secret), timeout=120, interval=1,
                       message=f"secret {secret.name} to be removed")


def _removed(secret):
    import docker as docker_sdk

    try:
        secret.remove()
        return True
    except docker_sdk.errors.NotFound:
        return True
    except docker_sdk.errors.APIError:  # still in use by a stopping container
        return False


def _rpc(vhost, service, method):
    config = {"AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"}
    return wait_until(lambda: _try_rpc(config, service, method), timeout=60, interval=1,
                      message=f"{service}.{method}()")


def _try_rpc(config, service, method):
    from nameko.standalone.rpc import ClusterRpcProxy

    try:
        with ClusterRpcProxy(config, timeout=10) as proxy:
            return getattr(getattr(proxy, service), method)()
    except Exception:  # noqa: BLE001  (not up yet)
        return None


def _diagnose(client, name):
    lines = []
    for service in client.services.list(filters={"label": f"com.docker.stack.namespace={name}"}):
        for task in client.api.tasks(filters={"service": service.name}):
            lines.append(f"{service.name} {task['Status']['State']} "
                         f"{task['Status'].get('Err', '')}")
        try:
            logs = b"".join(client.api.service_logs(service.name, stdout=True, stderr=True,
                                                    tail=15)).decode(errors="replace")
        except Exception:  # noqa: BLE001
            logs = ""
        lines.append(logs)
    return "\n".join(lines)


def test_the_compose_file_is_a_valid_compose_file(docker_client):
    """deploy/docker-compose.yml cannot run here (no image); Docker's own
    loader checks it against the compose schema and resolves it."""
    out = docker("stack", "config", "-c", os.path.join(ROOT, "deploy", "docker-compose.yml"))
    config = yaml.safe_load(out)
    assert {"gateway", "services", "converters", "rabbitmq", "postgres"} <= set(config["services"])
    assert config["services"]["converters"]["stop_grace_period"] == "1m30s"
