"""The HTTP API through Flask's test client, with the real services behind it
(real RabbitMQ, real database, real converter)."""
import io
import json
import re
import time
import zipfile
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token
from PIL import Image

from convertix.contract import JOB_FINAL as FINAL
from convertix.contract import TASK_FINAL
from gateway import create_app
from gateway.settings import settings_from
from services.accounts.service import AccountsService
from services.converter.service import ConverterService
from services.jobs.service import JobsService
from tests.conftest import TEST_JWT_SECRET, make_service_config
from tests.helpers import wait_until
from tests.integration.conftest import jpeg_bytes, png_bytes


@pytest.fixture
def app(runner_factory, rabbit_config, db_url, storage_root):
    """The gateway with every service behind it, on SQLite and on PostgreSQL."""
    service_config = make_service_config(rabbit_config["AMQP_URI"], db_url, storage_root)
    runner = runner_factory(service_config, AccountsService, JobsService, ConverterService)
    runner.start()
    settings = settings_from({**service_config, "LIMITS": {
        "max_file_bytes": 200_000, "max_files": 3, "max_request_bytes": 1_000_000}})
    app = create_app({**settings, "TESTING": True, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "SYNC_CONVERT_TIMEOUT_S": 20})
    yield app
    app.extensions["convertix.rpc"].close()


@pytest.fixture
def http(app):
    return app.test_client()


def register_and_login(http, username="alice", password="correct horse"):
    assert http.post("/api/v1/auth/register",
                     json={"username": username, "password": password}).status_code == 201
    answer = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200
    return answer.get_json()


def register_login_again(http, username="alice", password="correct horse"):
    answer = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200
    return answer.get_json()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def upload(http, token, files, options, path="/api/v1/jobs"):
    data = {"options": json.dumps(options),
            "file": [(io.BytesIO(content), name) for name, content in files]}
    return http.post(path, data=data, headers=bearer(token), content_type="multipart/form-data")


def wait_job(http, token, job_id):
    def final():
        doc = http.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).get_json()
        return doc if doc["status"] in FINAL else None
    return wait_until(final, timeout=60, message="job to finish")


def assert_error(answer, status, code):
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code


# --- auth -------------------------------------------------------------------

def test_register_login_me_refresh_logout(http):
    tokens = register_and_login(http)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900

    me = http.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["username"] == "alice" and me.get_json()["roles"] == []
    assert len(me.get_json()["webhook_secret"]) == 64

    refreshed = http.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200 and refreshed.get_json()["access_token"]

    assert http.post("/api/v1/auth/logout",
                     headers=bearer(tokens["access_token"])).status_code == 204
    assert_error(http.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])),
                 401, "TOKEN_REVOKED")
    # the session is over: its refresh token, and what it refreshed, too
    assert_error(http.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"])),
                 401, "TOKEN_REVOKED")
    assert_error(http.get("/api/v1/auth/me",
                          headers=bearer(refreshed.get_json()["access_token"])),
                 401, "TOKEN_REVOKED")
    # another login is a new session
    assert http.get("/api/v1/auth/me", headers=bearer(
        register_login_again(http)["access_token"])).status_code == 200


def test_register_refusals(http):
    register_and_login(http)
    assert_error(http.post("/api/v1/auth/register",
                           json={"username": "alice", "password": "another one"}),
                 409, "USERNAME_TAKEN")
    assert_error(http.post("/api/v1/auth/register", json={"username": "bob", "password": "short"}),
                 400, "WEAK_PASSWORD")
    assert_error(http.post("/api/v1/auth/register", data="nope"), 400, "BAD_REQUEST")
    assert_error(http.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong!!!"}),
                 401, "INVALID_CREDENTIALS")
    assert_error(http.post("/api/v1/auth/login", json={"username": "nobody", "password": "x" * 9}),
                 401, "INVALID_CREDENTIALS")


def test_bad_tokens_are_401_with_the_spec_codes(app, http):
    tokens = register_and_login(http)
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    claims = pyjwt.decode(access, options={"verify_signature": False})
    with app.app_context():
        expired = create_access_token(identity=claims["sub"], expires_delta=timedelta(seconds=-5))
    header, payload, signature = access.split(".")
    tampered = ".".join([header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"),
                         signature])
    alg_none = pyjwt.encode({**claims, "exp": int(time.time()) + 600}, key="",
                            algorithm="none")
    wrong_key = pyjwt.encode(claims, "a-different-secret-of-at-least-32-bytes!!", "HS256")

    cases = [
        ({}, "NOT_AUTHENTICATED"),
        (bearer(expired), "TOKEN_EXPIRED"),
        (bearer(tampered), "TOKEN_INVALID"),
        (bearer(alg_none), "TOKEN_INVALID"),
        (bearer(wrong_key), "TOKEN_INVALID"),
        (bearer(refresh), "TOKEN_INVALID"),        # a refresh token is not an access token
        (bearer("not.a.jwt"), "TOKEN_INVALID"),
        ({"Authorization": "Basic abc"}, "NOT_AUTHENTICATED"),
    ]
    for headers, code in cases:
        for path in ("/api/v1/auth/me", "/api/v1/jobs"):
            assert_error(http.get(path, headers=headers), 401, code)
        # behind the per-user limit, whose key reads the token first (limits.py)
        for path in ("/api/v1/jobs", "/api/v1/convert"):
            assert_error(http.post(path, headers=headers), 401, code)
    # and an access token is not a refresh token
    assert_error(http.post("/api/v1/auth/refresh", headers=bearer(access)), 401, "TOKEN_INVALID")


# --- jobs -------------------------------------------------------------------

def test_formats_is_public_and_lists_real_formats(http):
    formats = http.get("/api/v1/formats").get_json()
    assert {"png", "jpeg", "webp"} <= set(formats["output"]) and "width" in formats["operations"]
    assert "pdf" not in formats["input"]


def test_formats_gives_clients_the_servers_tables(http):
    """File endings and final statuses come from the server, so no client keeps a copy."""
    formats = http.get("/api/v1/formats").get_json()
    named = set(formats["input"]) | set(formats["output"])
    assert set(formats["extensions"]) == named == set(formats["media_types"])
    assert formats["extensions"]["jpeg"][0] == "jpg" and "jfif" in formats["extensions"]["jpeg"]
    assert "image/png" in formats["media_types"]["png"]
    for fmt in {"pgm", "pbm"} & named:  # its own format, not folded into ppm
        assert formats["extensions"][fmt] == [fmt]
    assert formats["final_statuses"] == {"job": sorted(FINAL), "task": sorted(TASK_FINAL)}


def test_upload_follow_download_archive_delete(http):
    token = register_and_login(http)["access_token"]
    answer = upload(http, token, [("red.png", png_bytes((80, 40))), ("green.jpg", jpeg_bytes())],
                    {"format": "jpeg", "width": 40, "quality": 70})
    assert answer.status_code == 202
    job_id = answer.get_json()["id"]
    assert answer.headers["Location"] == f"/api/v1/jobs/{job_id}"

    doc = wait_job(http, token, job_id)
    assert doc["status"] == "succeeded"
    assert doc["tasks"][0]["input"] == {"format": "png", "width": 80, "height": 40,
                                        "bytes": len(png_bytes((80, 40)))}

    result = http.get(doc["tasks"][0]["output"]["url"], headers=bearer(token))
    assert result.status_code == 200 and result.mimetype == "image/jpeg"
    assert 'filename=red.jpg' in result.headers["Content-Disposition"]
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.format == "JPEG" and image.size == (40, 20) and image.mode == "RGB"
        red, green, blue = image.getpixel((20, 10))
        assert red > 180 and green < 60 and blue < 60

    archive = http.get(f"/api/v1/jobs/{job_id}/archive", headers=bearer(token))
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(archive.data)).namelist()) == [
        "0-red.jpg", "1-green.jpg"]

    assert http.delete(f"/api/v1/jobs/{job_id}", headers=bearer(token)).status_code == 204
    assert http.get(doc["tasks"][0]["output"]["url"], headers=bearer(token)).status_code == 404


def test_uploads_refused_up_front(http):
    token = register_and_login(http)["access_token"]
    png = png_bytes()
    assert_error(upload(http, token, [("notes.png", b"just some text, not an image")],
                        {"format": "png"}), 415, "UNSUPPORTED_FORMAT")
    assert_error(upload(http, token, [("big.png", png + b"\0" * 200_001)], {"format": "png"}),
                 413, "FILE_TOO_LARGE")
    answer = upload(http, token, [("a.png", png)], {"format": "png", "width": -3})
    assert_error(answer, 422, "INVALID_OPTIONS")
    assert answer.get_json()["error"]["details"]["field"] == "width"
    assert_error(upload(http, token, [("a.png", png)], {"format": "exe"}), 422, "INVALID_OPTIONS")
    assert_error(upload(http, token, [], {"format": "png"}), 400, "BAD_REQUEST")
    bad_json = http.post("/api/v1/jobs", headers=bearer(token), content_type="multipart/form-data",
                         data={"options": "{", "file": [(io.BytesIO(png), "a.png")]})
    assert_error(bad_json, 422, "INVALID_OPTIONS")
    nested = http.post("/api/v1/jobs", headers=bearer(token), content_type="multipart/form-data",
                       data={"options": "[" * 100_000, "file": [(io.BytesIO(png), "a.png")]})
    assert_error(nested, 422, "INVALID_OPTIONS")
    assert_error(upload(http, token, [(f"{i}.png", png) for i in range(4)], {"format": "png"}),
                 400, "BAD_REQUEST")  # more than max_files
    too_big = upload(http, token, [(f"{i}.png", png + b"\0" * 190_000) for i in range(6)],
                     {"format": "png"})  # each file fits, the request does not
    assert_error(too_big, 413, "FILE_TOO_LARGE")
    assert http.get("/api/v1/jobs", headers=bearer(token)).get_json()["items"] == []


def test_another_users_job_is_not_found(http):
    alice = register_and_login(http, "alice")["access_token"]
    bob = register_and_login(http, "bob")["access_token"]
    job_id = upload(http, alice, [("a.png", png_bytes())], {"format": "png"}).get_json()["id"]
    wait_job(http, alice, job_id)

    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/tasks/0/result",
                 f"/api/v1/jobs/{job_id}/archive"):
        assert_error(http.get(path, headers=bearer(bob)), 404, "NOT_FOUND")
    assert_error(http.delete(f"/api/v1/jobs/{job_id}", headers=bearer(bob)), 404, "NOT_FOUND")
    assert http.get("/api/v1/jobs", headers=bearer(bob)).get_json()["items"] == []
    assert [j["id"] for j in http.get("/api/v1/jobs", headers=bearer(alice)).get_json()["items"]] \
        == [job_id]
    assert_error(http.get("/api/v1/jobs/nope", headers=bearer(alice)), 404, "NOT_FOUND")


def test_sync_convert_answers_with_the_bytes(app, http):
    token = register_and_login(http)["access_token"]
    answer = upload(http, token, [("a.png", png_bytes((50, 50)))],
                    {"format": "webp", "width": 10}, path="/api/v1/convert")
    assert answer.status_code == 200 and answer.mimetype == "image/webp"
    # recorded after the answer, within moments (docs/DESIGN.md "/convert records after answering")
    job = wait_until(lambda: (lambda got: got if got.status_code == 200 else None)(http.get(
        f"/api/v1/jobs/{answer.headers['X-Convertix-Job']}", headers=bearer(token))), timeout=10,
        message="the /convert's job recorded")
    assert job.get_json()["status"] == "succeeded"
    with Image.open(io.BytesIO(answer.data)) as image:
        assert image.size == (10, 10)

    broken = upload(http, token, [("b.png", png_bytes()[:60])], {"format": "webp"},
                    path="/api/v1/convert")
    assert_error(broken, 422, "CORRUPT_IMAGE")

    app.config["SYNC_CONVERT_TIMEOUT_S"] = 0  # not done at once: 202 and the job
    slow = upload(http, token, [("c.png", png_bytes())], {"format": "png"}, path="/api/v1/convert")
    assert slow.status_code == 202 and slow.headers["Location"].endswith(slow.get_json()["id"])


def test_download_name_is_safe(http):
    token = register_and_login(http)["access_token"]
    job_id = upload(http, token, [('../../evil"\r\nX-Bad: 1.png', png_bytes())],
                    {"format": "png"}).get_json()["id"]
    doc = wait_job(http, token, job_id)
    result = http.get(doc["tasks"][0]["output"]["url"], headers=bearer(token))
    assert result.status_code == 200 and "X-Bad" not in result.headers
    assert re.fullmatch(r"attachment; filename=[A-Za-z0-9._-]+\.png",
                        result.headers["Content-Disposition"])
    assert "evil" in result.headers["Content-Disposition"]


def test_wrong_method_is_json_405_with_allow(http):
    answer = http.put("/api/v1/formats")
    assert_error(answer, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in answer.headers["Allow"]


def test_list_filters_by_status_and_validates_params(http):
    token = register_and_login(http)["access_token"]
    ok = upload(http, token, [("a.png", png_bytes())], {"format": "png"}).get_json()["id"]
    bad = upload(http, token, [("b.png", png_bytes()[:60])], {"format": "png"}).get_json()["id"]
    wait_job(http, token, ok), wait_job(http, token, bad)
    failed = http.get("/api/v1/jobs?status=failed", headers=bearer(token)).get_json()
    assert [j["id"] for j in failed["items"]] == [bad]
    assert_error(http.get("/api/v1/jobs?status=weird", headers=bearer(token)), 400, "BAD_REQUEST")
    assert_error(http.get("/api/v1/jobs?limit=0", headers=bearer(token)), 400, "BAD_REQUEST")
    assert_error(http.get("/api/v1/jobs?limit=²", headers=bearer(token)), 400, "BAD_REQUEST")
    assert_error(http.get("/api/v1/jobs?cursor=%%%", headers=bearer(token)), 400, "BAD_REQUEST")


def test_health_and_readiness(http):
    assert http.get("/healthz").get_json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {
        "status": "ready", "checks": {"jobs": "ok", "accounts": "ok", "converter": "ok"}}
    assert_error(http.get("/no/such/page"), 404, "NOT_FOUND")


def test_readyz_is_503_without_services(rabbit_config, storage_root):
    settings = settings_from({"AMQP_URI": rabbit_config["AMQP_URI"],
                              "STORAGE": {"root": str(storage_root)},
                              "GATEWAY": {"rpc_timeout_s": 2}})
    app = create_app({**settings, "JWT_SECRET_KEY": TEST_JWT_SECRET})
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["status"] == "unavailable"
    assert answer.get_json()["checks"]["jobs"] == "BACKEND_UNAVAILABLE"


def test_ready_without_a_converter(runner_factory, service_config, storage_root):
    """Jobs can be accepted (they wait in the queue) while no converter runs."""
    runner = runner_factory(service_config, AccountsService, JobsService)
    runner.start()
    app = create_app({**settings_from(service_config), "JWT_SECRET_KEY": TEST_JWT_SECRET})
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["checks"]["converter"] == "BACKEND_UNAVAILABLE"


def test_login_is_rate_limited(app, http):
    app.config["AUTH_RATE_LIMIT"] = "3 per minute"
    register_and_login(http)  # register + login: 1 each
    for _ in range(2):
        assert http.post("/api/v1/auth/login",
                         json={"username": "alice", "password": "wrong!!!"}).status_code == 401
    assert_error(http.post("/api/v1/auth/login",
                           json={"username": "alice", "password": "correct horse"}),
                 429, "RATE_LIMITED")


def test_a_token_is_decoded_once_per_request_behind_the_per_user_limit(http, monkeypatch):
    """The limit's key verifies the token (once, however many limits ask
    for the key); the view takes that verification
    (limits.access_token_required) rather than decoding it again."""
    import flask_jwt_extended.view_decorators as decorators
    token = register_and_login(http)["access_token"]
    decoded = []
    real = decorators.decode_token

    def counting(*args, **kwargs):
        decoded.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(decorators, "decode_token", counting)
    answer = http.post("/api/v1/convert", headers=bearer(token),
                       data={"options": json.dumps({"format": "png"}),
                             "file": (io.BytesIO(png_bytes()), "a.png")})
    assert answer.status_code in (200, 202), answer.get_json()
    assert len(decoded) == 1
