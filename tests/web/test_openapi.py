"""The OpenAPI document: generated from the routes, complete, valid."""
import re

import jsonschema
import pytest
from openapi_spec_validator import validate

from convertix.errors import TASK_ERROR_CODES
from convertix.messages import SENTENCES
from convertix.options import FIELDS
from gateway import create_app
from gateway.openapi.document import documented_rules, operation_key
from gateway.openapi.operations import OPERATIONS
from gateway.settings import settings_from
from tests.conftest import TEST_JWT_SECRET


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = settings_from({"AMQP_URI": "pyamqp://guest:guest@localhost:5672/"})
    settings.update(JWT_SECRET_KEY=TEST_JWT_SECRET,
                    STORAGE_ROOT=str(tmp_path_factory.mktemp("storage")))
    return create_app(settings)


@pytest.fixture(scope="module")
def document(app):
    answer = app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.get_json()


def openapi_path(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_document_validates_as_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_registered_route_is_in_the_document(app, document):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    assert len(rules) > 15
    for rule in rules:
        path = document["paths"].get(openapi_path(rule.rule))
        assert path is not None, f"{rule.rule} is missing"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in path, f"{method} {rule.rule} is missing"


def test_every_route_is_described_not_just_listed(app):
    missing = [operation_key(method, rule) for rule, method in documented_rules(app)
               if operation_key(method, rule) not in OPERATIONS]
    assert not missing, "describe these in gateway/openapi/operations.py: " + ", ".join(missing)


def test_protected_routes_declare_the_bearer_token_and_401(document):
    job = document["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert job["security"] == [{"bearer": []}]
    assert "TOKEN_EXPIRED" in job["responses"]["401"]["description"]
    assert "NOT_FOUND" in job["responses"]["404"]["description"]
    assert document["paths"]["/api/v1/formats"]["get"]["security"] == []
    result = document["paths"]["/api/v1/jobs/{job_id}/tasks/{index}/result"]["get"]
    index = next(p for p in result["parameters"] if p["name"] == "index")
    assert index["schema"] == {"type": "integer"}


def test_the_options_schema_is_the_validators_table(document):
    schemas = document["components"]["schemas"]
    options = schemas["Options"]
    assert set(options["properties"]) == set(FIELDS)
    assert options["properties"]["fit"]["default"] == FIELDS["fit"][0]
    # the schema agrees with what the gateway accepts and refuses
    checker = jsonschema.Draft202012Validator(options)
    checker.validate({"format": "webp", "width": 400, "crop": {"x": 0, "y": 0, "width": 5, "height": 5}})
    for bad in ({"width": 400}, {"format": "webp", "quality": 0}, {"format": "webp", "size": 3},
                {"format": "webp", "fit": "squash"}):
        assert not checker.is_valid(bad), bad


def test_the_api_page_is_served_from_the_gateway(app):
    client = app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = [s for s in re.findall(r'(?:src|href)="([^"]+)"', html) if s != "data:,"]
    assert sources and all(s.startswith("/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_every_task_error_code_has_a_sentence():
    assert set(TASK_ERROR_CODES) <= set(SENTENCES)


def test_the_formats_answer_matches_its_schema(app, document):
    """GET /formats with the tables clients take from it (file endings, final statuses)."""
    schemas = document["components"]["schemas"]
    formats = schemas["Formats"]
    assert {"extensions", "media_types", "final_statuses"} <= set(formats["properties"])
    answer = app.test_client().get("/api/v1/formats").get_json()
    jsonschema.Draft202012Validator(formats).validate(answer)
    assert set(answer["final_statuses"]["job"]) == {"succeeded", "failed", "partial", "cancelled"}
