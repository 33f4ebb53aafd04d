"""deploy/: the Prometheus config and alert rules pass promtool (Debian's
`prometheus` package), the alerts fire on the series they are for, and the
Grafana dashboard is well formed, every query parses and names metrics that
exist. Grafana itself is not installed here: its files are checked as data.
"""
import json
import os
import re
import subprocess
import urllib.parse

import pytest
import requests
import yaml
from prometheus_client import Counter, Histogram

from convertix.contract import CONVERT_QUEUE, DEAD_LETTER_QUEUE
from infra import metrics
from infra.config import load_config
from infra.config.schema import METRICS, SCALER, read
from tests.metrics.prometheus import DEPLOY, ROOT, SHIPPED_CONFIG, binary, shipped_config

GRAFANA = os.path.join(DEPLOY, "grafana")
DASHBOARD = os.path.join(GRAFANA, "dashboards", "convertix.json")
DATASOURCES = os.path.join(GRAFANA, "provisioning", "datasources", "prometheus.yml")
PROVIDERS = os.path.join(GRAFANA, "provisioning", "dashboards", "convertix.yml")
ALERTS = os.path.join(DEPLOY, "alerts.yml")
ALERT_TESTS = os.path.join(os.path.dirname(__file__), "alerts_test.yml")


def promtool(*args, cwd=None):
    done = subprocess.run([binary("promtool"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_prometheus_config_passes_promtool():
    code, output = promtool("check", "config", SHIPPED_CONFIG)
    assert code == 0, output
    assert "SUCCESS" in output


def test_prometheus_config_matches_the_system():
    config = shipped_config()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"convertix", "convertix-scaler", "rabbitmq", "rabbitmq-queues"}
    # file_sd reads the folder every process announces itself in (config.yaml)
    (pattern,) = jobs["convertix"]["file_sd_configs"][0]["files"]
    announced = read(load_config(os.path.join(ROOT, "config.yaml")), METRICS)["targets_dir"]
    assert os.path.normpath(os.path.join(DEPLOY, os.path.dirname(pattern))) == \
        os.path.normpath(os.path.join(ROOT, announced))
    # the scaler at its configured port
    scaler_port = read(load_config(os.path.join(ROOT, "config.yaml")), SCALER)["metrics_port"]
    assert jobs["convertix-scaler"]["static_configs"][0]["targets"] == [f"127.0.0.1:{scaler_port}"]
    # RabbitMQ's per-queue families
    assert jobs["rabbitmq-queues"]["metrics_path"] == "/metrics/detailed"
    assert set(jobs["rabbitmq-queues"]["params"]["family"]) == {
        "queue_coarse_metrics", "queue_consumer_count"}
    assert config["rule_files"] == ["alerts.yml"]


def test_alert_rules_pass_promtool():
    code, output = promtool("check", "rules", ALERTS)
    assert code == 0, output
    names = {rule["alert"] for group in yaml.safe_load(open(ALERTS))["groups"]
             for rule in group["rules"]}
    assert {"ConvertixBacklogGrowing", "ConvertixGatewayErrors", "ConvertixConversionErrors",
            "ConvertixDeadLetterStuck"} <= names
    text = open(ALERTS).read()
    assert f'queue="{DEAD_LETTER_QUEUE}"' in text and f'queue="{CONVERT_QUEUE}"' in text


def test_alerts_fire_on_their_series():
    code, output = promtool("test", "rules", os.path.basename(ALERT_TESTS),
                            cwd=os.path.dirname(ALERT_TESTS))
    assert code == 0, output
    assert "SUCCESS" in output


# --- the Grafana dashboard -------------------------------------------------

def dashboard():
    with open(DASHBOARD) as handle:
        return json.load(handle)


def queries():
    return [target["expr"] for panel in dashboard()["panels"]
            for target in panel.get("targets", [])]


def test_dashboard_structure():
    board = dashboard()
    assert board["uid"] == "convertix" and board["title"]
    assert isinstance(board["schemaVersion"], int)
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    (datasource,) = yaml.safe_load(open(DATASOURCES))["datasources"]
    occupied = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "gauge", "table", "bargauge"}
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] == datasource["uid"]
    # the dashboard's variables use the same data source
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == datasource["uid"]


def test_dashboard_shows_what_the_issue_asks_for():
    text = "\n".join(queries())
    for needle in ("convertix_conversions_total",                 # throughput
                   "convertix_http_request_duration_seconds_bucket",  # latency
                   "convertix_conversion_duration_seconds_bucket",
                   'status=~"5.."', "convertix_conversion_failures_total",  # errors
                   f'queue="{CONVERT_QUEUE}"', f'queue="{DEAD_LETTER_QUEUE}"',  # queue depth
                   "convertix_scaler_desired_replicas", "convertix_scaler_actual_replicas"):
        assert needle in text, needle


def _as_promql(expr):
    # Grafana's own variables, as Grafana would substitute them
    return expr.replace("$__rate_interval", "1m").replace("$vhost", ".*")


def test_dashboard_queries_parse(tmp_path):
    # promtool parses PromQL when it checks rules: one recording rule per query
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": _as_promql(expr)}
        for n, expr in enumerate(queries())]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    code, output = promtool("check", "rules", str(path))
    assert code == 0, output
    assert f"SUCCESS: {len(queries())} rules found" in output


def _sample_names(metric):
    (family,) = metric.describe()
    if isinstance(metric, Counter):
        return {family.name + "_total"}
    if isinstance(metric, Histogram):
        return {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return {family.name}


def known_metric_names():
    from scaler import metrics as scaler_metrics

    names = {metrics.JOBS, metrics.TASKS, "up"}
    for module in (metrics, scaler_metrics):
        for value in vars(module).values():
            if isinstance(value, (Counter, Histogram)) or type(value).__name__ == "Gauge":
                names |= _sample_names(value)
    # RabbitMQ's plugin, asked for the families deploy/prometheus.yml scrapes
    families = shipped_config()["scrape_configs"]
    (queues,) = [job for job in families if job["job_name"] == "rabbitmq-queues"]
    url = "http://localhost:15692/metrics/detailed?" + urllib.parse.urlencode(
        queues["params"], doseq=True)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, "RabbitMQ's rabbitmq_prometheus plugin must answer"
    names |= set(re.findall(r"^# TYPE (\S+)", answer.text, re.M))
    return names


def test_dashboard_and_alerts_name_metrics_that_exist():
    known = known_metric_names()
    alerts = [rule["expr"] for group in yaml.safe_load(open(ALERTS))["groups"]
              for rule in group["rules"]]
    used = set()
    for expr in queries() + alerts:
        used |= set(re.findall(r"\b((?:convertix|rabbitmq)_[a-z_]+|up)\b(?=\s*[{\[)=]|\s*$)",
                               _as_promql(expr)))
    assert used, "no metric names found"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_grafana_provisioning_files():
    (datasource,) = yaml.safe_load(open(DATASOURCES))["datasources"]
    assert datasource["type"] == "prometheus" and datasource["uid"]
    (provider,) = yaml.safe_load(open(PROVIDERS))["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


@pytest.mark.parametrize("path", [DASHBOARD])
def test_dashboard_is_plain_json(path):
    # Grafana refuses comments and trailing commas: the file must load as strict JSON
    json.loads(open(path).read())
