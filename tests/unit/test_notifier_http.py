"""Webhook signatures (ours and Standard Webhooks', checked with its
library) and the outcome and coarse error of an attempt, table-tested."""
import time

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError

from convertix import signature
from services.notifier import http

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


def _connection_error(reason):
    return requests.ConnectionError(MaxRetryError(None, "/", reason))


@pytest.mark.parametrize("exc, error", [
    (requests.ConnectTimeout("t"), http.TIMEOUT),
    (requests.ReadTimeout("t"), http.TIMEOUT),
    (_connection_error(NewConnectionError(None, "refused")), http.CONNECT_FAILED),
    (_connection_error(NameResolutionError("h", None, OSError("no"))), http.CONNECT_FAILED),
    (requests.ConnectionError(ProtocolError("aborted", Exception("SSH-2.0-OpenSSH"))),
     http.BAD_RESPONSE),
    (requests.exceptions.SSLError("bad certificate"), http.BAD_RESPONSE),
    (requests.exceptions.ChunkedEncodingError("x"), http.BAD_RESPONSE),
    (ConnectionResetError(104, "reset"), http.BAD_RESPONSE),
])
def test_a_failed_send_is_one_coarse_error(exc, error):
    assert http.classify(exc) == error


@pytest.mark.parametrize("status, error", [(200, None), (204, None), (301, "http_301"),
                                           (404, "http_404"), (503, "http_503")])
def test_an_answer_records_its_status_only(status, error):
    assert http.http_error(status) == error


def test_standard_webhooks_headers_verify_with_the_library_and_replays_do_not():
    secret = SECRET
    now = time.time()
    headers = signature.standard_headers(secret, signature.message_id("abc"), now, BODY)
    assert headers["webhook-id"] == "msg_abc" and headers["webhook-timestamp"] == str(int(now))
    assert headers["webhook-signature"].startswith("v1,")
    receiver = Webhook(signature.whsec(secret))
    assert receiver.verify(BODY, headers) == {"id": "abc", "status": "succeeded"}
    with pytest.raises(WebhookVerificationError):  # another body
        receiver.verify(BODY.replace(b"succeeded", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):  # another user's secret
        Webhook(signature.whsec("1e" * 32)).verify(BODY, headers)
    replayed = signature.standard_headers(secret, "msg_abc", now - 3600, BODY)  # an hour old
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(BODY, replayed)
    forged = {**replayed, "webhook-timestamp": str(int(now))}  # a fresh time, the old signature
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(BODY, forged)


def test_whsec_is_the_same_key():
    key = Webhook(signature.whsec(SECRET))._whsecret  # what the library decodes
    assert signature.whsec(SECRET).startswith("whsec_") and key == SECRET.encode()
