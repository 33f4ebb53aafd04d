"""Webhook signatures and the outcome of an HTTP answer, table-tested."""
import pytest

from services.notifier import http, signature

SECRET = "0f" * 32
BODY = b'{"id":"abc","status":"succeeded"}'


def test_signature_verifies_the_exact_body():
    header = signature.sign(SECRET, BODY)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert signature.verify(SECRET, BODY, header)


@pytest.mark.parametrize("body, secret, header", [
    (BODY.replace(b"succeeded", b"failed"), SECRET, None),   # tampered body
    (BODY + b" ", SECRET, None),                               # not the exact bytes
    (BODY, "1e" * 32, None),                                   # another user's secret
    (BODY, SECRET, ""),                                        # no header
    (BODY, SECRET, "sha256=" + "0" * 64),
])
def test_signature_fails_for_anything_else(body, secret, header):
    header = signature.sign(SECRET, BODY) if header is None else header
    assert not signature.verify(secret, body, header)


@pytest.mark.parametrize("status, outcome", [
    (200, http.DELIVERED), (201, http.DELIVERED), (204, http.DELIVERED),
    (301, http.FAILED), (302, http.FAILED), (307, http.FAILED),   # redirects are not followed
    (400, http.FAILED), (401, http.FAILED), (404, http.FAILED), (410, http.FAILED),
    (429, http.RETRY),
    (500, http.RETRY), (502, http.RETRY), (503, http.RETRY), (504, http.RETRY),
])
def test_outcome_of_an_answer(status, outcome):
    assert http.outcome(status) == outcome
