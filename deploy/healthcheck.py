"""Container health checks for deploy/docker-stack.yml and docker-compose.yml.

    python deploy/healthcheck.py http URL       the URL answers 2xx
    python deploy/healthcheck.py rpc SERVICE    SERVICE.ping() answers over RPC
                                                (the service, the broker and its database)
    python deploy/healthcheck.py broker         the broker accepts a connection

Exit 0 when healthy, 1 otherwise (Docker's convention), within a few seconds.
Reads config.yaml (and so the environment) as the services do.
"""
import os
import sys

TIMEOUT_S = 8


def secrets_from_files():
    """NAME from the file NAME_FILE names, as deploy/entrypoint.sh does for the
    service: Docker runs this check with the container's environment, not the
    one the entrypoint made."""
    for key, path in list(os.environ.items()):
        name = key[:-len("_FILE")]
        if key.endswith("_FILE") and name and name not in os.environ:
            with open(path) as handle:
                os.environ[name] = handle.read().rstrip("\n")


def check_http(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
        return 200 <= answer.status < 300


def check_rpc(service):
    from nameko.standalone.rpc import ClusterRpcProxy

    from infra.config import load_config

    with ClusterRpcProxy(load_config(), timeout=TIMEOUT_S) as proxy:
        return getattr(proxy, service).ping() is True


def check_broker():
    from kombu import Connection

    from infra.config import load_config

    with Connection(load_config()["AMQP_URI"], connect_timeout=TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=1)
        return True


def main(argv):
    kind, args = argv[1], argv[2:]
    check = {"http": check_http, "rpc": check_rpc, "broker": check_broker}[kind]
    try:
        secrets_from_files()
        healthy = check(*args)
    except Exception as exc:  # noqa: BLE001  (any failure is "unhealthy")
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
