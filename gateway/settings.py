"""Flask settings, from the one config.yaml (and secrets from the environment).

Each value comes through infra/config/schema.py, which holds its default and
its check; here is only which config keys the gateway reads. A Flask key is
its config key's name in capitals (GATEWAY.login_rate_limit_per_user:
LOGIN_RATE_LIMIT_PER_USER, as config.yaml's environment variable), but where
a library fixes the name.
"""
import os

from infra.config import load_checked
from infra.config.schema import (
    AMQP_URI_KEY,
    AUTH,
    GATEWAY,
    JOBS,
    JWT_SECRET_ENV,
    LIMITS,
    LOGS,
    MANAGEMENT_URL_KEY,
    NOTIFIER,
    STORAGE,
    read,
    read_value,
)

# (config.yaml section, key) the gateway reads; its Flask key: the key's name in capitals
READS = [
    (GATEWAY, "rpc_timeout_s"),
    (GATEWAY, "accept_rpc_timeout_s"),
    (GATEWAY, "rpc_pool_size"),
    (GATEWAY, "sync_convert_timeout_s"),
    (GATEWAY, "sse_heartbeat_s"),
    (GATEWAY, "sse_streams_per_user"),
    (GATEWAY, "sse_max_stream_s"),
    (GATEWAY, "auth_rate_limit"),
    (GATEWAY, "rate_limit_storage"),
    (GATEWAY, "rate_limit_prefix"),
    (GATEWAY, "login_rate_limit_per_user"),
    (GATEWAY, "trusted_proxies"),
    (GATEWAY, "job_rate_limit_per_user"),
    (GATEWAY, "convert_concurrency_per_user"),
    (NOTIFIER, "redelivery_rate_limit_per_user"),
    (LIMITS, "max_files"),
    (LIMITS, "max_file_bytes"),
    # uploads are hashed (SHA-256) only for result reuse: off, not paid for
    (JOBS, "reuse_results"),
]
# Flask key -> (section, key) where a library fixes the Flask key (Flask,
# flask-jwt-extended), or where the key alone says too little ("ROOT").
NAMED = {
    "MAX_CONTENT_LENGTH": (LIMITS, "max_request_bytes"),
    # gunicorn's settings, named as their environment variables: how many
    # connections a process holds, and so its share for event streams
    "GATEWAY_WORKER_CLASS": (GATEWAY, "worker_class"),
    "GATEWAY_CONNECTIONS": (GATEWAY, "worker_connections"),
    "GATEWAY_THREADS": (GATEWAY, "threads"),
    "STORAGE_ROOT": (STORAGE, "root"),
    "JWT_ACCESS_TOKEN_EXPIRES": (AUTH, "access_token_ttl_s"),
    "JWT_REFRESH_TOKEN_EXPIRES": (AUTH, "refresh_token_ttl_s"),
}


def flask_key(key):
    return key.upper()


# Flask key -> (config.yaml section, key)
FROM_CONFIG = {**{flask_key(key): (section, key) for section, key in READS}, **NAMED}
# whole values the gateway passes on as they are
TOP_LEVEL = {
    "AMQP_URI": AMQP_URI_KEY,
    "RABBITMQ_MANAGEMENT_URL": MANAGEMENT_URL_KEY,  # admin stats
}


def settings_from(config):
    """Flask settings from a loaded config (checked section by section)."""
    values = {flask_key: read_value(config, key) for flask_key, key in TOP_LEVEL.items()}
    for flask_key, (section, key) in FROM_CONFIG.items():
        values[flask_key] = read(config, section)[key]
    values["LOGS"] = read(config, LOGS)  # the admin log search reads it
    return values


def default(flask_key):
    """The schema's default for a Flask key (a test_config may leave it out)."""
    section, key = FROM_CONFIG[flask_key]
    return section.default[key]


def load_settings(path=None):
    settings = settings_from(load_checked(path))
    secret = os.environ.get(JWT_SECRET_ENV)
    if secret:
        settings["JWT_SECRET_KEY"] = secret
    return settings
