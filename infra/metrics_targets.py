"""Announcing where a process serves its metrics, for Prometheus' file_sd.

On one host the auto-scaler starts and stops converter processes as the queue
grows and shrinks, so no fixed list of ports can name them. Each process
serving metrics (every `nameko run`, the gateway's gunicorn master) writes one
small JSON file into `METRICS.targets_dir`: its address and labels, in the
format of Prometheus' `file_sd_configs`. Prometheus watches that folder
(deploy/prometheus.yml). The file goes when the process stops; one left by a
process that was killed is removed by the next process that starts on the same
host, as its pid no longer runs.
"""
import json
import os
import socket

from infra.config.schema import METRICS, read

# What an address bound to every interface is announced as.
_ANY = {"", "0.0.0.0", "::"}


def targets_dir(config):
    return read(config, METRICS)["targets_dir"]


def _host():
    return socket.gethostname()


def target_path(directory, component, pid=None):
    # The host is in the name: the folder may be a volume shared by hosts,
    # and only this host can tell whether one of its pids still runs.
    return os.path.join(directory, f"{component}@{_host()}@{pid or os.getpid()}.json")


def announce(directory, component, host, port, scheme="http"):
    """Write this process's target file; returns its path."""
    os.makedirs(directory, exist_ok=True)
    prune(directory)
    address = "127.0.0.1" if host in _ANY else host
    labels = {"component": component, "host": _host(), "pid": str(os.getpid())}
    if scheme != "http":
        labels["__scheme__"] = scheme
    path = target_path(directory, component)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump([{"targets": [f"{address}:{port}"], "labels": labels}], handle)
    os.replace(tmp, path)  # Prometheus never reads half a file
    return path


def withdraw(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def prune(directory):
    """Remove this host's target files whose process is gone."""
    suffix = f"@{_host()}@"
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if suffix not in name or not name.endswith(".json"):
            continue
        try:
            pid = int(name[:-len(".json")].rsplit("@", 1)[1])
        except ValueError:
            continue
        if not _running(pid):
            withdraw(os.path.join(directory, name))


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True
