"""Rate limits (Flask-Limiter): login and register are throttled per client
address, since each attempt costs an argon2 hash (tens of ms of CPU).

The default storage is each process's memory, so with N gunicorn workers a
client gets up to N times the limit; set `GATEWAY.rate_limit_storage` to a
shared store (e.g. redis://) where that matters.
"""
from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

EXTENSION = "convertix.limiter"

limiter = Limiter(key_func=get_remote_address)


def init_app(app):
    # RATE_LIMIT_STORAGE and AUTH_RATE_LIMIT: gateway/settings.py, from config.yaml's GATEWAY
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["RATE_LIMIT_STORAGE"])
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter


def auth_limit():
    return current_app.config["AUTH_RATE_LIMIT"]
