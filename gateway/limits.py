"""Request limits: rate limits (Flask-Limiter) and the form-part bound.

Login and register are throttled per client address, since each attempt
costs an argon2 hash (tens of ms of CPU); login is also throttled per
username, so guessing one account's password from many addresses is bounded
too.

Shared: the counters live in `GATEWAY.rate_limit_storage`, Redis by default
(`make run` and the stack start one), so every gunicorn worker of every
gateway replica counts against the same limit; with the old per-process
memory, N workers x M replicas multiplied it. If the store is down, each
process falls back to its own memory (and logs it) rather than refusing
every login.

The client address is the connection's, unless `GATEWAY.trusted_proxies` is
N > 0: then the Nth address from the right of X-Forwarded-For (werkzeug's
ProxyFix), the one our own N proxies (an ingress, a load balancer) saw. With
0, X-Forwarded-For is ignored, so a client cannot pick its own key; behind
Docker's ingress without it, every client shares the ingress's address.
"""
import functools
import logging
from urllib.parse import urlsplit

from flask import current_app, request
from flask_jwt_extended import get_jwt, get_jwt_identity, verify_jwt_in_request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.settings import default

log = logging.getLogger(__name__)

EXTENSION = "convertix.limiter"
# Form parts a request may have beyond its files: options, callback_url, and slack.
EXTRA_FORM_PARTS = 8

def client_key():
    """The client's address (see the module's doc), under this installation's prefix."""
    return f"{current_app.config['RATE_LIMIT_PREFIX']}:addr:{get_remote_address()}"


limiter = Limiter(key_func=client_key)


def init_app(app):
    # RATE_LIMIT_STORAGE, AUTH_RATE_LIMIT, LOGIN_RATE_LIMIT_PER_USER, RATE_LIMIT_PREFIX
    # and TRUSTED_PROXIES: gateway/settings.py, from config.yaml's GATEWAY
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["RATE_LIMIT_STORAGE"])
    # One namespace per installation in a shared Redis: by default the AMQP
    # vhost's (each test stack has its own vhost, so its own counters).
    if not app.config.get("RATE_LIMIT_PREFIX"):
        vhost = urlsplit(app.config.get("AMQP_URI") or "").path.lstrip("/") or "/"
        app.config["RATE_LIMIT_PREFIX"] = f"convertix:{vhost}"
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2,
                                                        "socket_timeout": 2})
    # Werkzeug parses every part before a view can count files: 2,000 parts
    # were all parsed (and spooled) before check_count refused the upload.
    app.config.setdefault("MAX_FORM_PARTS", app.config.get("MAX_FILES", default("MAX_FILES")) + EXTRA_FORM_PARTS)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    log.info("rate limits in %s (trusted proxies: %d)",
             app.config["RATELIMIT_STORAGE_URI"].split("@")[-1], proxies)


def auth_limit():
    return current_app.config["AUTH_RATE_LIMIT"]


def login_user_limit():
    return current_app.config.get("LOGIN_RATE_LIMIT_PER_USER",
                                  default("LOGIN_RATE_LIMIT_PER_USER"))


def username_key():
    """The login's username, as the accounts service keeps it (lower case)."""
    try:
        body = request.get_json(silent=True)  # at most 16 KiB (auth.AUTH_MAX_BODY_BYTES)
    except RecursionError:
        body = None
    name = body.get("username") if isinstance(body, dict) else None
    name = name.lower() if isinstance(name, str) else ""
    return f"{current_app.config['RATE_LIMIT_PREFIX']}:user:{name}"


def job_user_limit():
    return current_app.config["JOB_RATE_LIMIT_PER_USER"]


def user_key():
    """The signed-in user, for per-user limits (POST /jobs, /convert).

    Limits are checked before the view's jwt_required, so the token is read
    here; without a valid one the address is the key (and jwt_required then
    answers 401 anyway)."""
    try:
        if not _verified():  # the limiter asks for the key once per limit
            verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:  # expired, malformed, revoked: 401 follows
        identity = None
    if not identity:
        return client_key()
    return f"{current_app.config['RATE_LIMIT_PREFIX']}:uid:{identity}"


def _verified():
    """The claims of the access token this request verified already, or None."""
    try:
        return get_jwt() or None  # {}: verified that none was sent
    except RuntimeError:  # nothing verified in this request yet
        return None


def access_token_required(view):
    """`@jwt_required()` for a view behind a limit keyed by `user_key`: that
    key has verified the request's access token already, with the same
    checks (signature, expiry, type, revocation), so the view takes that
    verification instead of decoding the token a second time (PyJWT's decode
    was a fifth of the gateway's CPU per /convert, done twice). With no
    token verified yet (none sent, or a bad one), it verifies as
    `jwt_required()` does, and so answers the same 401s."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not _verified():
            verify_jwt_in_request()
        return view(*args, **kwargs)
    return wrapper


# POST /jobs and /convert count against one per-user budget.
job_creation_limit = limiter.shared_limit(job_user_limit, scope="job-creation", key_func=user_key)
