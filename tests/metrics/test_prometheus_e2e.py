"""A real Prometheus, with the shipped deploy/prometheus.yml (rewritten for
test ports and a 1 s scrape), scraping a running system (`nameko run`
processes and gunicorn): after jobs convert, PromQL through Prometheus' HTTP
API returns the conversion counter and the latency histograms for them.

Every stack here is fresh (its own vhost, database and processes), so the
counts are exact.
"""
import json
import os

import pytest

from convertix.contract import CONVERT_QUEUE, DEAD_LETTER_QUEUE
from tests.e2e.conftest import Api, Stack
from tests.helpers import corpus_bytes, wait_until
from tests.metrics.prometheus import FILE_SD_JOB, Prometheus, config_for_test

pytestmark = pytest.mark.processes

# Queries and answers, written where CONVERTIX_METRICS_EVIDENCE points (for
# reviewing what Prometheus really answered).
EVIDENCE = os.environ.get("CONVERTIX_METRICS_EVIDENCE")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("stack")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory):
    server = Prometheus(str(tmp_path_factory.mktemp("prometheus")),
                        config_for_test(stack.env["METRICS_TARGETS_DIR"])).start()
    yield server
    server.stop()


class Asked:
    """Prometheus' answers, kept for the evidence file."""

    def __init__(self, prometheus):
        self.prometheus = prometheus
        self.seen = []

    def until(self, expr, expected, timeout=60):
        """Wait until `expr` has exactly one result equal to `expected`."""
        def answer():
            value = self.prometheus.value(expr)
            return (value,) if value == expected else None  # a tuple: 0 is an answer too
        try:
            (value,) = wait_until(answer, timeout=timeout, interval=0.5, message=f"{expr} == {expected}")
        except AssertionError:
            name = expr.split("{")[0].split("(")[-1]
            raise AssertionError(f"{expr}: {self.prometheus.query(expr)}, expected {expected}; "
                                 f"all of {name}: {self.prometheus.query(name)}")
        self.seen.append({"query": expr, "answer": self.prometheus.query(expr)})
        return value

    def now(self, expr):
        result = self.prometheus.query(expr)
        self.seen.append({"query": expr, "answer": result})
        return result

    def save(self, name):
        if EVIDENCE:
            with open(EVIDENCE, "a") as handle:
                handle.write(json.dumps({"test": name, "seen": self.seen}, indent=1) + "\n")


def test_every_component_is_discovered_and_scraped(stack, prometheus):
    asked = Asked(prometheus)
    # the gateway, the accounts+jobs process and the converter, via file_sd
    asked.until(f'count(up{{job="{FILE_SD_JOB}"}} == 1)', 3)
    components = {labels["component"] for labels, value in asked.now(f'up{{job="{FILE_SD_JOB}"}}')}
    assert components == {"gateway", "accounts,jobs", "converter"}
    # RabbitMQ's own plugin: the stack's conversion queue, empty
    asked.until(f'rabbitmq_detailed_queue_messages{{vhost="{stack.vhost}", '
                f'queue="{CONVERT_QUEUE}"}}', 0)
    asked.until(f'rabbitmq_detailed_queue_consumers{{vhost="{stack.vhost}", '
                f'queue="{DEAD_LETTER_QUEUE}"}}', 1)
    # the shipped alert rules are loaded and evaluate
    groups = prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["name"] for rule in rules} >= {
        "ConvertixBacklogGrowing", "ConvertixGatewayErrors", "ConvertixConversionErrors",
        "ConvertixDeadLetterStuck"}
    wait_until(lambda: all(rule.get("health") == "ok" for group in prometheus.api("rules")["groups"]
                           for rule in group["rules"]),
               timeout=30, interval=0.5, message="every rule evaluated without error")
    asked.save("discovery")


def test_a_conversion_shows_in_prometheus(stack, prometheus):
    asked = Asked(prometheus)
    api = Api(stack, "metrics-user")
    answer = api.upload([("coffee.png", corpus_bytes("photos/skimage/coffee.png")),
                         ("bad.png", corpus_bytes("bad/truncated/truncated_image.png"))],
                        {"format": "webp", "width": 200})
    assert answer.status_code == 202, answer.text
    doc = api.wait_final(answer.json()["id"])
    assert [task["status"] for task in doc["tasks"]] == ["succeeded", "failed"]
    code = doc["tasks"][1]["error"]["code"]
    output_bytes = doc["tasks"][0]["output"]["bytes"]

    # the conversion counter, by input and output format and outcome
    ok = 'input_format="png", output_format="webp", outcome="succeeded"'
    asked.until(f"convertix_conversions_total{{{ok}}}", 1)
    asked.until('sum(convertix_conversions_total{outcome="failed"})', 1)
    asked.until(f'convertix_conversion_failures_total{{code="{code}"}}', 1)
    asked.until('sum(convertix_conversions_total{outcome="error"}) or vector(0)', 0)
    # its duration histogram: one observation, in a finite bucket, and a quantile
    asked.until(f"convertix_conversion_duration_seconds_count{{{ok}}}", 1)
    asked.until(f'convertix_conversion_duration_seconds_bucket{{{ok}, le="+Inf"}}', 1)
    asked.until(f'convertix_conversion_duration_seconds_bucket{{{ok}, le="60.0"}}', 1)
    p50 = asked.now("histogram_quantile(0.5, sum by (le) "
                    f"(convertix_conversion_duration_seconds_bucket{{{ok}}}))")
    assert len(p50) == 1 and 0 < p50[0][1] <= 60
    # bytes: the output's size, as the job document reports it
    asked.until('convertix_conversion_output_bytes_sum{output_format="webp"}', output_bytes)
    asked.until('convertix_conversion_input_bytes_sum{input_format="png"}',
                len(corpus_bytes("photos/skimage/coffee.png")))

    # the gateway: the upload counted by its route and status, and its latency histogram
    upload = 'method="POST", route="/api/v1/jobs"'
    asked.until(f'convertix_http_requests_total{{{upload}, status="202"}}', 1)
    asked.until(f"convertix_http_request_duration_seconds_count{{{upload}}}", 1)
    asked.until(f'convertix_http_request_duration_seconds_bucket{{{upload}, le="+Inf"}}', 1)
    p95 = asked.now("histogram_quantile(0.95, sum by (le) "
                    f"(convertix_http_request_duration_seconds_bucket{{{upload}}}))")
    assert len(p95) == 1 and 0 < p95[0][1] <= 60
    # polling the job went to one route, whatever the job id
    polls = asked.now('convertix_http_requests_total{method="GET", route="/api/v1/jobs/<job_id>"}')
    assert len(polls) == 1 and polls[0][1] >= 1

    # the jobs service: jobs and tasks by status, from the database
    asked.until('max(convertix_jobs{status="partial"})', 1)
    asked.until('max(convertix_tasks{status="succeeded"})', 1)
    asked.until('max(convertix_tasks{status="failed"})', 1)
    # and its event handlers, counted per entrypoint
    asked.until('sum(convertix_service_calls_total{service="jobs", '
                'entrypoint="on_task_succeeded", outcome="ok"})', 1)
    asked.save("conversion")
