"""Which `callback_url`s a job may have. Pure functions.

Checked when the job is created (the gateway answers 422 with
`details.field = "callback_url"`) and again by the notifier before each
attempt (a URL stored before this check existed ends its delivery as
`invalid_url` instead of raising in the sender for ever). Only the URL's
shape is checked here; where its host resolves to is the notifier's
business at send time (services/notifier/ssrf.py), since DNS answers change.
"""
import ipaddress
import re
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
MAX_LENGTH = 2048
MAX_HOST_LENGTH = 253
# One DNS label (after IDNA): letters, digits, hyphens inside, underscores
# (some receivers' names have them); 1..63 characters.
LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$", re.IGNORECASE)


def _host_problem(host):
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return "its host is not a valid host name"
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > MAX_HOST_LENGTH or not all(LABEL.match(label) for label in labels):
        return "its host is not a valid host name"
    return None


def problem(url):
    """Why `url` cannot be a callback URL (a short text), or None when it can."""
    if not isinstance(url, str) or not url:
        return "must be an http(s) URL"
    if len(url) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: not a number, or past 65535
    except ValueError as exc:
        if "out of range" in str(exc):
            return "its port must be 1 to 65535"
        return "is not a valid URL (its host or its port)"
    if parts.scheme.lower() not in SCHEMES:
        return "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if port is not None and not 1 <= port <= 65535:
        return "its port must be 1 to 65535"
    return _host_problem(parts.hostname)
