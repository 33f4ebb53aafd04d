"""The gateway's /metrics under gunicorn with several workers: one scrape
shows every worker's counts, and a worker that dies keeps its counts.

Without prometheus_client's multiprocess mode each worker would count in its
own memory: a scrape would show one worker's share, and killing the workers
would reset the counts to zero. The kill below is what makes the test fail
then, whichever workers happened to serve the requests.
"""
import glob
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack
from tests.helpers import wait_until

pytestmark = pytest.mark.processes

WORKERS = 3
REQUESTS = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("stack"),
                    env={"GATEWAY_WORKERS": str(WORKERS)}).start()
    yield running
    running.stop()


def metrics_url(stack):
    """The gateway's internal metrics listener, as announced to Prometheus
    (the API port answers /metrics to an admin token only)."""
    (path,) = glob.glob(os.path.join(stack.env["METRICS_TARGETS_DIR"], "gateway@*.json"))
    with open(path) as handle:
        return f"http://{json.load(handle)[0]['targets'][0]}/metrics"


def samples(stack):
    """{(name, labels as a sorted tuple): value} from the gateway's /metrics."""
    answer = requests.get(metrics_url(stack), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def sample(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))), 0)


def workers(master_pid):
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master_pid and fields[0] != "Z":
                children.append(int(entry))
    return sorted(children)


def test_counts_add_up_across_workers_and_survive_them(stack):
    healthz = {"method": "GET", "route": "/healthz"}
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(
            lambda _: requests.get(stack.url + "/healthz", timeout=10).status_code,
            range(REQUESTS)))
    assert codes == [200] * REQUESTS
    before = samples(stack)
    assert sample(before, "convertix_http_requests_total", status="200", **healthz) == REQUESTS
    assert sample(before, "convertix_http_request_duration_seconds_count", **healthz) == REQUESTS
    assert sample(before, "convertix_http_request_duration_seconds_bucket",
                  le="+Inf", **healthz) == REQUESTS

    # Kill every worker; gunicorn starts new ones, with empty memories.
    master = stack.procs["gateway"].pid
    old = workers(master)
    assert len(old) == WORKERS
    for pid in old:
        os.kill(pid, signal.SIGKILL)

    def replaced():
        now = workers(master)
        return len(now) == WORKERS and not set(now) & set(old) and now
    new = wait_until(replaced, timeout=60, interval=0.2, message="gunicorn's new workers")
    after = wait_until(lambda: _answering(stack), timeout=60, interval=0.2,
                       message="the new workers answer /metrics")
    assert sample(after, "convertix_http_requests_total", status="200", **healthz) == REQUESTS
    assert sample(after, "convertix_http_request_duration_seconds_count", **healthz) == REQUESTS
    assert set(new) != set(old)


def _answering(stack):
    try:
        return samples(stack)
    except requests.ConnectionError:
        return None


def test_routes_are_url_rules_not_paths(stack):
    before = samples(stack)
    for job_id in ("a" * 32, "b" * 32, "c" * 32):  # no token: 401, after routing
        assert requests.get(f"{stack.url}/api/v1/jobs/{job_id}", timeout=10).status_code == 401
    for path in ("/no/such/path", "/another/unknown"):
        assert requests.get(stack.url + path, timeout=10).status_code == 404
    after = samples(stack)

    def grew(**labels):
        return (sample(after, "convertix_http_requests_total", **labels)
                - sample(before, "convertix_http_requests_total", **labels))
    assert grew(method="GET", route="/api/v1/jobs/<job_id>", status="401") == 3
    assert grew(method="GET", route="<unmatched>", status="404") == 2
    routes = {dict(labels)["route"] for (name, labels) in after
              if name == "convertix_http_requests_total"}
    assert not any("aaaa" in route or "/no/such" in route for route in routes), routes
