"""deploy/'s Elasticsearch and Kibana files fit the documents Convertix writes.

No Elasticsearch or Kibana can run here; these check what can be checked
without one: valid JSON, the names agreeing with config.yaml and each other,
every field the search filters on mapped as an exact (keyword) field."""
import fnmatch
import json
import logging
import os

from infra.config import load_config
from infra.logs import context
from infra.logs.ecs import EcsFormatter
from infra.logs.search import EXACT, UNMAPPED_TYPE
from infra.logs.setup import LogSettings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")


def load(path):
    with open(os.path.join(DEPLOY, path)) as handle:
        return json.load(handle)


def mapping(properties, dotted):
    head, _, rest = dotted.partition(".")
    field = properties[head]
    return mapping(field["properties"], rest) if rest else field


def test_the_index_template_makes_the_configured_data_stream_with_the_policy():
    template = load("elasticsearch/index-template.json")
    policy = load("elasticsearch/ilm-policy.json")
    stream = LogSettings.from_config(load_config(os.path.join(ROOT, "config.yaml"))).data_stream
    assert any(fnmatch.fnmatch(stream, p) for p in template["index_patterns"])
    assert template["data_stream"] == {} and template["priority"] > 100  # above logs-*-*
    assert template["template"]["settings"]["index.lifecycle.name"] == "convertix-logs"
    assert set(policy["policy"]["phases"]) >= {"hot", "delete"}
    properties = template["template"]["mappings"]["properties"]
    for field in EXACT.values():  # term filters need keyword fields
        assert mapping(properties, field)["type"] == "keyword", field
    assert mapping(properties, "@timestamp")["type"] == "date"
    assert mapping(properties, "convertix.task_index")["type"] == "integer"
    for field, kind in UNMAPPED_TYPE.items():  # the search's tie-breakers, typed alike
        assert mapping(properties, field)["type"] == kind, field


def test_every_field_of_a_line_is_mapped_or_dynamic_as_a_keyword():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    with context.bound(trace_id="t", job_id="j", task_index=0, user_id="u", service="jobs"):
        doc = json.loads(EcsFormatter().format(record))
    properties = load("elasticsearch/index-template.json")["template"]["mappings"]["properties"]

    def leaves(value, prefix=""):
        for key, item in value.items():
            name = prefix + key
            if isinstance(item, dict):
                yield from leaves(item, name + ".")
            else:
                yield name
    for field in leaves(doc):
        mapping(properties, field)  # KeyError if a field of every line is not mapped


def test_kibana_objects_import_together():
    with open(os.path.join(DEPLOY, "kibana", "convertix-logs.ndjson")) as handle:
        objects = [json.loads(line) for line in handle if line.strip()]
    ids = {(o["type"], o["id"]) for o in objects}
    assert {o["type"] for o in objects} == {"index-pattern", "search", "dashboard"}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, ref
    (view,) = [o for o in objects if o["type"] == "index-pattern"]
    template = load("elasticsearch/index-template.json")
    assert view["attributes"]["title"] in template["index_patterns"]
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    (dashboard,) = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"] for r in dashboard["references"]}
    assert {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels} == refs
    job_search = [o for o in objects if o["id"] == "convertix-job-life"][0]
    source = json.loads(job_search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert "convertix.job_id" in source["query"]["query"]
