"""One webhook POST: resolve, check, connect to the checked address, no redirects.

`post()` is a plain function (the service calls it in a greenthread of its
own, and eventlet makes the socket calls cooperative). The outcome of an
attempt follows from the HTTP status (`outcome()`).

What an attempt records is coarse on purpose (`error`, SPEC "Webhooks"): the
delivery log is shown to whoever chose the URL, so it must not be a port
scanner's banner grabber. Never the receiver's bytes (a non-HTTP service's
greeting ends up in an exception's text), never an exception's text, never
the address a name resolved to: only one of the codes below, or
`http_<status>` for an HTTP answer that was not 2xx.
"""
import time
from urllib.parse import urlsplit

import eventlet
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from convertix import callback
from services.notifier import ssrf

DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"
USER_AGENT = "Convertix-Webhooks/1"
DEFAULT_PORTS = {"http": 80, "https": 443}


def outcome(http_status):
    """What an HTTP answer means for the delivery: 2xx delivered; 429 and 5xx
    are tried again; anything else (a redirect, which is not followed, or a
    4xx) ends it as failed."""
    if 200 <= http_status < 300:
        return DELIVERED
    if http_status == 429 or 500 <= http_status < 600:
        return RETRY
    return FAILED


class PinnedAdapter(HTTPAdapter):
    """Connects to one given address, whatever the URL's host resolves to now.

    The URL keeps its host name, so the Host header, TLS SNI and the
    certificate's name check all use the name; only the TCP connection goes
    to the address the SSRF guard checked.
    """

    def __init__(self, address):
        self.address = address
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        name = host_params["host"]
        host_params["host"] = self.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def _host_header(parts):
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}" if parts.port else host


# The coarse errors an attempt records (besides http_<status>).
CONNECT_FAILED = "connect_failed"   # no TCP connection: refused, unreachable, no DNS answer
TIMEOUT = "timeout"                 # no (whole) answer within timeout_s
BAD_RESPONSE = "bad_response"       # connected, but no HTTP answer (or TLS failed)
ADDRESS_REFUSED = "address_refused"  # resolves to an address webhooks may not reach
INVALID_URL = "invalid_url"         # not a URL we send to (stored before it was checked)


def http_error(http_status):
    """The `error` an HTTP answer records: None when it was 2xx."""
    return None if 200 <= http_status < 300 else f"http_{http_status}"


def _connect_failed(exc):
    """True when `exc` (from requests) means no TCP connection was made."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, NameResolutionError))


# (is it this?, the error it records), the first that holds. Timeouts first:
# requests' ConnectTimeout is also a ConnectionError.
ERRORS = (
    (lambda exc: isinstance(exc, requests.Timeout), TIMEOUT),
    (lambda exc: isinstance(exc, requests.ConnectionError) and _connect_failed(exc),
     CONNECT_FAILED),
)


def classify(exc):
    """The coarse error of a failed send: TIMEOUT, CONNECT_FAILED or BAD_RESPONSE."""
    for holds, error in ERRORS:
        if holds(exc):
            return error
    return BAD_RESPONSE


def post(url, body, headers, timeout_s, allow_private, verify=True):
    """POST `body`; returns {"http_status", "error", "latency_ms", "outcome"}.

    Never raises for the receiver's faults: a refused address or an invalid
    URL ends the delivery (FAILED), a network error or a timeout asks for a
    retry. `error` is one of the codes above (module doc), never free text.
    """
    started = time.monotonic()
    deadline = None

    def result(http_status=None, error=None, result_outcome=RETRY):
        return {"http_status": http_status, "error": error, "outcome": result_outcome,
                "latency_ms": round((time.monotonic() - started) * 1000, 1)}

    if callback.problem(url):
        return result(error=INVALID_URL, result_outcome=FAILED)
    parts = urlsplit(url)
    try:
        # The whole attempt, resolving included, within timeout_s: requests'
        # own timeout bounds each socket wait, not a receiver that drips.
        with eventlet.Timeout(timeout_s) as deadline:
            try:
                address = ssrf.pick_address(parts.hostname,
                                            parts.port or DEFAULT_PORTS[parts.scheme],
                                            allow_private)
            except (OSError, UnicodeError):  # no such name, no address
                return result(error=CONNECT_FAILED)
            with requests.Session() as session:
                session.trust_env = False  # no proxy from the environment: it would
                session.mount(f"{parts.scheme}://", PinnedAdapter(address))  # bypass the check
                answer = session.post(url, data=body, timeout=timeout_s, verify=verify,
                                      allow_redirects=False, stream=True,
                                      headers={"User-Agent": USER_AGENT, "Host": _host_header(parts),
                                               "Content-Type": "application/json", **headers})
                answer.close()  # the receiver's body is not read
        return result(answer.status_code, http_error(answer.status_code),
                      outcome(answer.status_code))
    except ssrf.Refused:
        return result(error=ADDRESS_REFUSED, result_outcome=FAILED)
    except eventlet.Timeout as exc:
        if exc is not deadline:
            raise
        return result(error=TIMEOUT)
    except (requests.RequestException, OSError, UnicodeError, ValueError) as exc:
        return result(error=classify(exc))
