"""One webhook POST (services/notifier/http.py) against a real receiver on
loopback: signed body sent as is, the SSRF guard, no redirects, timeouts,
and the pinned connection keeping the host name for TLS."""
import socket
import ssl

import pytest
import requests

from convertix import signature
from services.notifier import http
from tests.helpers import self_signed_certificate
from tests.webhook_receiver import Receiver, speaker

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
    assert result["error"] == http.ADDRESS_REFUSED  # never the address it resolved to
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
    assert refused["outcome"] == http.FAILED and refused["error"] == http.ADDRESS_REFUSED
    assert allowed["outcome"] == http.DELIVERED
    (got,) = receiver.requests
    assert got["headers"]["Host"] == f"[::1]:{receiver.port}"


@pytest.mark.parametrize("status, outcome", [(500, http.RETRY), (429, http.RETRY),
                                             (404, http.FAILED), (302, http.FAILED)])
def test_answers_map_to_outcomes_and_redirects_are_not_followed(status, outcome):
    with Receiver([status]) as receiver:
        result = http.post(receiver.url(), BODY, {}, timeout_s=5, allow_private=True)
    assert (result["http_status"], result["outcome"]) == (status, outcome)
    assert result["error"] == f"http_{status}"  # the status only, never the reason or body
    assert len(receiver.requests) == 1  # a redirect's Location is never asked


def test_network_error_asks_for_a_retry():
    with Receiver() as receiver:
        url = receiver.url()
    result = http.post(url, BODY, {}, timeout_s=5, allow_private=True)  # nobody listens now
    assert result["outcome"] == http.RETRY and result["error"] == http.CONNECT_FAILED


def test_a_silent_receiver_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        result = http.post(f"http://127.0.0.1:{silent.getsockname()[1]}/", BODY, {},
                           timeout_s=0.5, allow_private=True)
    assert result["outcome"] == http.RETRY and result["error"] == http.TIMEOUT
    assert result["latency_ms"] < 3000


BANNERS = [b"SSH-2.0-OpenSSH_9.2p1 secret-host\r\n",
           b"-NOAUTH Authentication required. redis_version:7.0.15\r\n",
           b"220 secret-host ESMTP Postfix\r\n"]


@pytest.mark.parametrize("banner", BANNERS)
def test_a_banner_speaking_port_records_bad_response_and_nothing_of_the_banner(banner):
    with speaker(banner) as server:
        result = http.post(f"http://localhost:{server.port}/", BODY, {}, timeout_s=5,
                           allow_private=True)
    assert result["outcome"] == http.RETRY and result["http_status"] is None
    assert result["error"] == http.BAD_RESPONSE
    text = repr(result)
    for secret in (b"secret-host", b"OpenSSH", b"NOAUTH", b"redis_version", b"Postfix",
                   b"127.0.0.1"):
        assert secret.decode() not in text


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://[::1", "ftp://127.0.0.1/",
                                 "http://127.0.0.1:0/"])
def test_an_invalid_url_ends_the_delivery_without_raising(url):
    result = http.post(url, BODY, {}, timeout_s=5, allow_private=True)
    assert (result["outcome"], result["error"]) == (http.FAILED, http.INVALID_URL)


def test_a_name_that_does_not_resolve_is_connect_failed():
    result = http.post("http://no-such-host.invalid/", BODY, {}, timeout_s=5, allow_private=True)
    assert (result["outcome"], result["error"]) == (http.RETRY, http.CONNECT_FAILED)


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
