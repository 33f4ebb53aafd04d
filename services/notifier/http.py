"""One webhook POST: resolve, check, connect to the checked address, no redirects.

`post()` is a plain function (the service calls it in its own worker, and
eventlet makes the socket calls cooperative). The outcome of an attempt
follows from the HTTP status (`outcome()`).
"""
import time
from urllib.parse import urlsplit

import eventlet
import requests
from requests.adapters import HTTPAdapter

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


def post(url, body, headers, timeout_s, allow_private, verify=True):
    """POST `body`; returns {"http_status", "error", "latency_ms", "outcome"}.

    Never raises for the receiver's faults: a refused address ends the
    delivery (FAILED), a network error or a timeout asks for a retry.
    """
    parts = urlsplit(url)
    started = time.monotonic()
    deadline = None

    def result(http_status=None, error=None, result_outcome=RETRY):
        return {"http_status": http_status, "error": error, "outcome": result_outcome,
                "latency_ms": round((time.monotonic() - started) * 1000, 1)}

    try:
        # The whole attempt, resolving included, within timeout_s: requests'
        # own timeout bounds each socket wait, not a receiver that drips.
        with eventlet.Timeout(timeout_s) as deadline:
            address = ssrf.pick_address(parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme],
                                        allow_private)
            with requests.Session() as session:
                session.trust_env = False  # no proxy from the environment: it would
                session.mount(f"{parts.scheme}://", PinnedAdapter(address))  # bypass the check
                answer = session.post(url, data=body, timeout=timeout_s, verify=verify,
                                      allow_redirects=False, stream=True,
                                      headers={"User-Agent": USER_AGENT, "Host": _host_header(parts),
                                               "Content-Type": "application/json", **headers})
                answer.close()  # the receiver's body is not read
        return result(answer.status_code, None, outcome(answer.status_code))
    except ssrf.Refused as exc:
        return result(error=f"refused: {exc}", result_outcome=FAILED)
    except eventlet.Timeout as exc:
        if exc is not deadline:
            raise
        return result(error=f"timeout after {timeout_s} s")
    except (requests.RequestException, OSError, UnicodeError) as exc:
        return result(error=f"{type(exc).__name__}: {exc}"[:500])
