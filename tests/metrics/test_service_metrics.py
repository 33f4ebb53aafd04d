"""ServiceMetrics in real Nameko containers, on real RabbitMQ and real
databases (SQLite and PostgreSQL): each process serves its metrics over
HTTP, announces itself for Prometheus' file_sd and withdraws when it stops;
the jobs service reports jobs and tasks by status from its database."""
import json
import uuid

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from convertix.errors import NotFound
from infra.nameko.metrics import ServiceMetrics
from services.accounts.service import AccountsService
from services.jobs.service import JobsService
from tests.conftest import make_service_config
from tests.helpers import wait_until


@pytest.fixture
def targets_dir(tmp_path):
    return tmp_path / "targets"


@pytest.fixture
def config(rabbit_config, db_url, storage_root, targets_dir):
    return make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root, METRICS={
        "host": "127.0.0.1", "port": 0, "targets_dir": str(targets_dir)})


def announced(targets_dir):
    """{component: "host:port"} from the target files."""
    found = {}
    for path in sorted(targets_dir.glob("*.json")) if targets_dir.exists() else []:
        (group,) = json.loads(path.read_text())
        found[group["labels"]["component"]] = group["targets"][0]
    return found


def scrape(address):
    answer = requests.get(f"http://{address}/metrics", timeout=10)
    assert answer.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def by_status(samples, name):
    return {dict(labels)["status"]: value for (sample, labels), value in samples.items()
            if sample == name}


def test_jobs_process_serves_jobs_by_status(container_factory, config, targets_dir):
    container = container_factory(JobsService, config)
    container.start()
    address = announced(targets_dir)["jobs"]
    assert set(by_status(scrape(address), "convertix_jobs").values()) == {0}

    job_id = uuid.uuid4().hex
    with ServiceRpcProxy("jobs", config) as jobs:
        jobs.create_job(job_id, "user-1", {"format": "png"},
                        [{"filename": "a.png", "format": "png", "bytes": 10},
                         {"filename": "b.png", "format": "png", "bytes": 10}])
        with pytest.raises(NotFound):
            jobs.get_job(uuid.uuid4().hex, "user-1")  # NotFound: an entrypoint that raised

    samples = scrape(address)
    assert by_status(samples, "convertix_jobs") == {
        "queued": 1, "processing": 0, "succeeded": 0, "failed": 0, "partial": 0, "cancelled": 0}
    assert by_status(samples, "convertix_tasks")["queued"] == 2
    calls = {dict(labels)["outcome"]: value for (name, labels), value in samples.items()
             if name == "convertix_service_calls_total"
             and dict(labels)["entrypoint"] in ("create_job", "get_job")}
    assert calls["ok"] >= 1 and calls["error"] >= 1

    container.stop()
    assert announced(targets_dir) == {}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{address}/metrics", timeout=5)


def test_services_of_one_process_share_one_server(runner_factory, config, targets_dir):
    runner = runner_factory(config, AccountsService, JobsService)
    runner.start()
    found = announced(targets_dir)
    assert list(found) == ["accounts,jobs"]  # one file, one port, both names
    assert by_status(scrape(found["accounts,jobs"]), "convertix_jobs")
    runner.stop()
    assert announced(targets_dir) == {}


class Boom(Exception):
    pass


class RaisingConverter:
    """Stands in for the converter's entrypoint when a conversion raises."""
    name = "raising_converter"
    metrics = ServiceMetrics()

    @rpc
    def convert(self):
        self.metrics.conversion("webp")
        raise Boom("the sandbox died")


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


@pytest.mark.parametrize("db_url", ["unused"])  # no database here
def test_a_conversion_that_raises_counts_as_error(container_factory, config):
    labels = {"input_format": "unknown", "output_format": "webp", "outcome": "error"}
    before = value("convertix_conversions_total", **labels)
    before_calls = value("convertix_service_calls_total", service="raising_converter",
                         entrypoint="convert", outcome="error")
    container = container_factory(RaisingConverter, config)
    container.start()
    with ServiceRpcProxy("raising_converter", config) as proxy:
        with pytest.raises(RemoteError):
            proxy.convert()
    # Nameko sends the RPC reply (handle_result) before the dependencies'
    # worker_result, where the outcome is counted: wait for it
    wait_until(lambda: value("convertix_service_calls_total", service="raising_converter",
                             entrypoint="convert", outcome="error") == before_calls + 1,
               timeout=10, message="the failed call to be counted")
    assert value("convertix_conversions_total", **labels) == before + 1
    assert value("convertix_conversion_duration_seconds_count", **labels) >= 1
