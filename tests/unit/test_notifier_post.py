"""One webhook POST (services/notifier/http.py) against a real receiver on
loopback: signed body sent as is, the SSRF guard, no redirects, timeouts,
and the pinned connection keeping the host name for TLS."""
import socket
import ssl

import pytest
import requests

from services.notifier import http, signature
from tests.helpers import self_signed_certificate
from tests.webhook_receiver import Receiver

BODY = b'{"id":"j1","status":"succeeded"}'


def test_post_sends_the_exact_body_and_headers():
    with Receiver() as receiver:
        result = http.post(receiver.url(), BODY, {signature.HEADER: signature.sign("k", BODY)},
                           timeout_s=5, allow_private=True)
    assert result["outcome"] == http.DELIVERED and result["http_status"] == 200
    assert result["error"] is None and result["latency_ms"] >= 0
    (got,) = receiver.requests
    assert got["body"] == BODY and got["path"] == "/hook"
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["Host"] == f"127.0.0.1:{receiver.port}"
    assert signature.verify("k", got["body"], got["headers"][signature.HEADER])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_unless_allowed(host):
    with Receiver() as receiver:
        result = http.post(receiver.url(host), BODY, {}, timeout_s=5, allow_private=False)
    assert result["outcome"] == http.FAILED and result["http_status"] is None
    assert "refused" in result["error"] and "loopback" in result["error"]
    assert receiver.requests == []


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_literal_hosts_are_checked_and_reached():
    with Receiver(host="::1") as receiver:
        refused = http.post(receiver.url("::1"), BODY, {}, timeout_s=5, allow_private=False)
        allowed = http.post(receiver.url("::1"), BODY, {}, timeout_s=5, allow_private=True)
    assert refused["outcome"] == http.FAILED and "loopback" in refused["error"]
    assert allowed["outcome"] == http.DELIVERED
    (got,) = receiver.requests
    assert got["headers"]["Host"] == f"[::1]:{receiver.port}"


@pytest.mark.parametrize("status, outcome", [(500, http.RETRY), (429, http.RETRY),
                                             (404, http.FAILED), (302, http.FAILED)])
def test_answers_map_to_outcomes_and_redirects_are_not_followed(status, outcome):
    with Receiver([status]) as receiver:
        result = http.post(receiver.url(), BODY, {}, timeout_s=5, allow_private=True)
    assert (result["http_status"], result["outcome"]) == (status, outcome)
    assert len(receiver.requests) == 1  # a redirect's Location is never asked


def test_network_error_asks_for_a_retry():
    with Receiver() as receiver:
        url = receiver.url()
    result = http.post(url, BODY, {}, timeout_s=5, allow_private=True)  # nobody listens now
    assert result["outcome"] == http.RETRY and "ConnectionError" in result["error"]


def test_a_silent_receiver_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        result = http.post(f"http://127.0.0.1:{silent.getsockname()[1]}/", BODY, {},
                           timeout_s=0.5, allow_private=True)
    assert result["outcome"] == http.RETRY
    assert result["error"] and ("timeout" in result["error"].lower()
                                or "timed out" in result["error"].lower())
    assert result["latency_ms"] < 3000


def test_pinned_https_checks_the_certificate_against_the_host_name(tmp_path):
    cert, key = self_signed_certificate(tmp_path, "hooks.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with Receiver(ssl_context=context) as receiver:
        # the name does not resolve: the connection goes to the pinned address,
        # TLS sends the name (SNI) and checks the certificate against it
        with requests.Session() as session:
            session.mount("https://", http.PinnedAdapter("127.0.0.1"))
            answer = session.post(receiver.url("hooks.example", scheme="https"), data=BODY,
                                  headers={"Host": f"hooks.example:{receiver.port}"},
                                  verify=cert, timeout=5)
            assert answer.status_code == 200
        with requests.Session() as session:  # a certificate for another name is refused
            session.mount("https://", http.PinnedAdapter("127.0.0.1"))
            with pytest.raises(requests.exceptions.SSLError):
                session.post(receiver.url("other.example", scheme="https"), data=BODY,
                             verify=cert, timeout=5)
    assert [r["headers"]["Host"] for r in receiver.requests] == [f"hooks.example:{receiver.port}"]
