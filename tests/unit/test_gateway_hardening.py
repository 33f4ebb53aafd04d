"""Gateway hardening, with no service behind it:
each request here is answered (or refused) before any RPC call.

- security headers on every response; the pages keep their own CSP;
- auth bodies are small;
- rate limits count in a store every gateway process shares (Redis), key on
  the connection's address unless proxies are trusted, and per username.
"""
import subprocess
import sys
import textwrap
import uuid

import pytest
import redis

from gateway import create_app
from gateway.headers import API_CSP
from gateway.settings import settings_from
from tests.conftest import TEST_JWT_SECRET

REDIS = "redis://127.0.0.1:6379/0"
BAD_LOGIN = {"username": "alice", "password": 1}  # refused (400) before any RPC call


def make_app(tmp_path, **config):
    settings = settings_from({"AMQP_URI": "pyamqp://guest:guest@localhost:5672/"})
    settings.update({"JWT_SECRET_KEY": TEST_JWT_SECRET, "STORAGE_ROOT": str(tmp_path / "storage"),
                     "RATE_LIMIT_STORAGE": "memory://", **config})
    return create_app(settings)


def redis_up():
    try:
        return redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_up(), reason="no Redis (scripts/start-backends.sh starts it)")


def test_security_headers_on_every_response(tmp_path):
    http = make_app(tmp_path).test_client()
    for answer in (http.get("/healthz"), http.get("/api/v1/nowhere"),
                   http.post("/api/v1/auth/login", json=BAD_LOGIN)):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Content-Security-Policy"] == API_CSP
        assert "Strict-Transport-Security" not in answer.headers  # plain HTTP
    assert "max-age=" in http.get("/healthz", base_url="https://localhost").headers[
        "Strict-Transport-Security"]


def test_pages_keep_their_same_origin_csp(tmp_path):
    http = make_app(tmp_path).test_client()
    for path in ("/", "/api/docs"):
        answer = http.get(path)
        assert answer.status_code == 200, path
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[-1].split(";")[0] or "script-src" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"


def test_auth_bodies_are_small(tmp_path):
    http = make_app(tmp_path).test_client()
    body = b'{"username": "alice", "password": "' + b"x" * (25 * 2**20) + b'"}'
    answer = http.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["details"]["max_bytes"] == 16 * 1024


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(tmp_path):
    http = make_app(tmp_path, AUTH_RATE_LIMIT="2 per minute").test_client()
    statuses = [http.post("/api/v1/auth/login", json=BAD_LOGIN,
                          headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(4)]
    assert statuses == [400, 400, 429, 429]  # a made-up address buys no new budget


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(tmp_path):
    http = make_app(tmp_path, AUTH_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=1,
                    LOGIN_RATE_LIMIT_PER_USER="100 per minute").test_client()

    def login(client):
        return http.post("/api/v1/auth/login", json=BAD_LOGIN,
                         headers={"X-Forwarded-For": f"198.51.100.7, {client}"}).status_code
    assert [login("203.0.113.1") for _ in range(3)] == [400, 400, 429]
    assert [login("203.0.113.2") for _ in range(2)] == [400, 400]  # another client behind the proxy


def test_logins_are_limited_per_username_from_any_address(tmp_path):
    http = make_app(tmp_path, AUTH_RATE_LIMIT="100 per minute", TRUSTED_PROXIES=1,
                    LOGIN_RATE_LIMIT_PER_USER="3 per minute").test_client()
    statuses = [http.post("/api/v1/auth/login", json={**BAD_LOGIN, "username": name},
                          headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i, name in enumerate(["alice", "Alice", "ALICE", "alice"])]
    assert statuses == [400, 400, 400, 429]
    assert http.post("/api/v1/auth/login", json={**BAD_LOGIN, "username": "bob"},
                     headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 400


OTHER_PROCESS = textwrap.dedent("""
    import sys
    from tests.unit.test_gateway_hardening import make_app, BAD_LOGIN
    import pathlib, tempfile
    app = make_app(pathlib.Path(tempfile.mkdtemp()), AUTH_RATE_LIMIT="3 per minute",
                   RATE_LIMIT_STORAGE=sys.argv[1], RATE_LIMIT_PREFIX=sys.argv[2])
    print([app.test_client().post("/api/v1/auth/login", json=BAD_LOGIN).status_code
           for _ in range(2)])
""")


@needs_redis
def test_rate_limits_are_shared_between_processes(tmp_path):
    # Two gateway processes (as gunicorn workers or replicas are): 3 a minute
    # in all, not 3 in each. With memory:// the fourth attempt got through.
    prefix = "test-" + uuid.uuid4().hex
    other = subprocess.run([sys.executable, "-c", OTHER_PROCESS, REDIS, prefix],
                           capture_output=True, text=True, timeout=120)
    assert other.stdout.strip().splitlines()[-1] == "[400, 400]", other.stderr[-2000:]
    http = make_app(tmp_path, AUTH_RATE_LIMIT="3 per minute", RATE_LIMIT_STORAGE=REDIS,
                    RATE_LIMIT_PREFIX=prefix).test_client()
    assert [http.post("/api/v1/auth/login", json=BAD_LOGIN).status_code for _ in range(2)] == [400, 429]


def test_hsts_follows_a_trusted_proxys_tls_only(tmp_path):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    untrusted = make_app(tmp_path).test_client().get("/healthz", headers=forwarded)
    assert "Strict-Transport-Security" not in untrusted.headers  # anyone can send the header
    trusted = make_app(tmp_path, TRUSTED_PROXIES=1).test_client().get("/healthz", headers=forwarded)
    assert "max-age=" in trusted.headers["Strict-Transport-Security"]


def test_a_rate_limited_login_says_when_to_retry(tmp_path):
    http = make_app(tmp_path, AUTH_RATE_LIMIT="2 per minute").test_client()
    answers = [http.post("/api/v1/auth/login", json=BAD_LOGIN) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert "Retry-After" not in answers[0].headers
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 61  # the window's end (+1 s), in seconds
    assert answers[2].get_json()["error"]["code"] == "RATE_LIMITED"


def test_metrics_need_an_admin_token_on_the_api_port(tmp_path):
    http = make_app(tmp_path).test_client()
    answer = http.get("/metrics")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "NOT_AUTHENTICATED"


def test_the_internal_metrics_listener_serves_metrics_only(tmp_path):
    from gateway.metrics import LISTENER
    app = make_app(tmp_path)
    app.config[LISTENER] = ("127.0.0.1", 9999)  # as gunicorn_conf.py sets it in each worker
    http = app.test_client()
    internal = {"base_url": "http://127.0.0.1:9999"}  # SERVER_NAME/PORT: the listener's
    answer = http.get("/metrics", **internal)
    assert answer.status_code == 200 and b"convertix_http_requests_total" in answer.data
    for path in ("/healthz", "/api/v1/formats", "/"):
        assert http.get(path, **internal).status_code == 404, path
    assert http.get("/metrics", base_url="http://127.0.0.1:8080").status_code == 401
    assert http.get("/healthz", base_url="http://127.0.0.1:8080").status_code == 200
