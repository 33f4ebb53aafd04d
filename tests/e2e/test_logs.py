"""Logs of the running system: `nameko run` processes and gunicorn write ECS
lines to the local store (and, configured, ship them to Elasticsearch), and
an admin finds a job's whole life by its id through GET /api/v1/admin/logs."""
import statistics
import subprocess
import time

from infra.logs.ecs import get_field
from tests.e2e.conftest import BIN, ROOT, Api, Stack
from tests.fake_elasticsearch import FakeElasticsearch
from tests.helpers import corpus_bytes, wait_until

# Two different images: an upload's first task may end before its second
# is added (uploads overlap conversion), and the same bytes would then
# reuse its result instead of converting (docs/DESIGN.md "Reused results").
PHOTO, OTHER = "photos/skimage/coffee.png", "photos/skimage/chelsea.png"


def make_admin(stack, username):
    done = subprocess.run([f"{BIN}/flask", "--app", "gateway", "make-admin", username],
                          cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def run_job(api):
    answer = api.upload([("coffee.png", corpus_bytes(PHOTO)), ("chelsea.png", corpus_bytes(OTHER))],
                        {"format": "webp", "width": 64})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert api.wait_final(job_id)["status"] == "succeeded"
    return job_id, answer.headers["X-Request-ID"]


def services_logging(api, job_id, **args):
    answer = api.get("/admin/logs", params={"job_id": job_id, "limit": 1000, **args})
    assert answer.status_code == 200, answer.text
    return answer.json()


def whole_life(api, job_id, needed=("gateway", "jobs", "converter")):
    """Wait until the job's lines from every needed service are found."""
    def found():
        result = services_logging(api, job_id)
        services = {get_field(d, "service.name") for d in result["items"]}
        return result if set(needed) <= services else None
    return wait_until(found, timeout=30, interval=0.3, message=f"logs of {job_id}")


def test_admin_finds_a_jobs_lines_from_gateway_jobs_and_converter_by_its_id(stack):
    user = Api(stack, "logger")
    job_id, trace_id = run_job(user)
    admin = Api(stack, "logadmin")
    make_admin(stack, "logadmin")
    admin.login("logadmin", "password-logadmin")

    result = whole_life(admin, job_id)
    assert result["backend"] == "local"
    assert result["count"] == len(result["items"])
    for doc in result["items"]:
        assert get_field(doc, "convertix.job_id") == job_id
        if get_field(doc, "service.name") != "gateway":  # the gateway's polls have their own
            assert get_field(doc, "trace.id") == trace_id
    assert any(d["message"] == "POST /api/v1/jobs 202" and get_field(d, "trace.id") == trace_id
               for d in result["items"])
    converter = [d for d in result["items"] if get_field(d, "service.name") == "converter"]
    assert {get_field(d, "convertix.task_index") for d in converter} == {0, 1}
    for doc in result["items"][::-1]:  # printed oldest first: the job's life (pytest -s)
        print(doc["@timestamp"], f"{get_field(doc, 'service.name'):9}",
              get_field(doc, "convertix.task_index"), doc["message"])

    only_converter = services_logging(admin, job_id, service="converter", q="converted")
    assert {get_field(d, "service.name") for d in only_converter["items"]} == {"converter"}
    assert only_converter["count"] == 2
    assert services_logging(admin, job_id, level="error")["count"] == 0

    # Not an admin: 403 with the SPEC's error body; no token: 401.
    answer = user.get("/admin/logs", params={"job_id": job_id})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "FORBIDDEN"
    answer = user.session.get(stack.url + "/api/v1/admin/logs", timeout=30,
                              headers={"Authorization": ""})
    assert answer.status_code == 401
    assert admin.get("/admin/logs", params={"limit": "0"}).status_code == 400


def test_the_running_system_ships_to_elasticsearch_and_requests_do_not_wait_for_it(tmp_path):
    fake = FakeElasticsearch().start()
    stack = Stack(tmp_path, env={"ELASTICSEARCH_URL": fake.url, "LOG_MAX_BACKOFF_S": "1"})
    try:
        stack.start()
        user = Api(stack, "shipper")
        job_id, _trace = run_job(user)
        admin = Api(stack, "esadmin")
        make_admin(stack, "esadmin")
        admin.login("esadmin", "password-esadmin")
        result = whole_life(admin, job_id)
        assert result["backend"] == "elasticsearch"

        def latency(count=40):
            times = []
            for _ in range(count):
                started = time.perf_counter()
                assert user.get("/formats").status_code == 200
                times.append(time.perf_counter() - started)
            return statistics.median(times), max(times)

        up = latency()
        fake.delay_s = 60   # hanging: accepts and never answers in time
        wait_until(lambda: user.get("/formats") and fake.in_flight > 0, timeout=30,
                   message="a shipper waiting on Elasticsearch")
        hanging = latency()
        fake.stop()         # down: connection refused
        down = latency()
        print(f"GET /formats p50/max ms: up {up[0]*1e3:.1f}/{up[1]*1e3:.1f}, "
              f"hanging {hanging[0]*1e3:.1f}/{hanging[1]*1e3:.1f}, "
              f"down {down[0]*1e3:.1f}/{down[1]*1e3:.1f}")
        for p50, worst in (hanging, down):  # generous: a wait on Elasticsearch is >= 10 s
            assert p50 < up[0] * 3 + 0.05
            assert worst < 2.0

        # Back up: what was logged meanwhile arrives.
        fake.delay_s = 0
        fake.start()
        marker = "marker-" + job_id
        user.get("/jobs/" + job_id, headers={"X-Request-ID": marker})
        wait_until(lambda: any(get_field(s, "trace.id") == marker for s in fake.sources()),
                   timeout=60, interval=0.3, message="lines logged during the outage")
    finally:
        stack.stop()
        fake.stop()
