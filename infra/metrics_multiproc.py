"""prometheus_client's multiprocess mode for the gateway's gunicorn workers
(used by gateway/gunicorn_conf.py).

Each gunicorn worker is its own process with its own memory, so a counter
kept in memory would show whichever worker answered the scrape. In
prometheus_client's multiprocess mode every worker writes its values to
files in one folder, and `/metrics` adds them up. The mode is chosen by an
environment variable that must be set before prometheus_client is first
imported, in the master too, since workers fork from it with what it has
imported. So this module imports nothing of it (nor the `gateway` package,
whose app imports it), and gunicorn's config sets the variable first.
"""
import os
import shutil

from infra.config.schema import GATEWAY, METRICS, PROMETHEUS_MULTIPROC_ENV, read


def multiproc_dir(config):
    """The workers' shared folder: one per gateway port, so that two gateways
    on one host (the tests run several) never mix their values."""
    root = read(config, METRICS)["multiproc_dir"]
    port = read(config, GATEWAY)["port"]
    return os.path.abspath(os.path.join(root, f"gateway-{port}"))


def use_multiprocess(directory):
    os.environ[PROMETHEUS_MULTIPROC_ENV] = directory


def start(directory):
    """At gunicorn's start, in the master, before any worker forks."""
    from prometheus_client import values

    if values.ValueClass is values.MutexValue:
        # Workers would count in their own memory, and /metrics (which reads
        # the folder) would show none of it.
        raise RuntimeError(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
            "set it first in gateway/gunicorn_conf.py")
    # Values left by a previous run must not be added in.
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def worker_died(pid):
    """Its counters stay (they are totals); its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
