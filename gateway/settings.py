"""Flask settings, from the one config.yaml (and secrets from the environment).

Each value comes through infra/config/schema.py, which holds its default and
its check; here is only which Flask key takes which config key.
"""
import os

from infra.config import load_checked
from infra.config.schema import (
    AMQP_URI_KEY, AUTH, GATEWAY, JOBS, JWT_SECRET_ENV, LIMITS, LOGS, MANAGEMENT_URL_KEY, NOTIFIER,
    STORAGE, read, read_value,
)

# Flask key -> (config.yaml section, key)
FROM_CONFIG = {
    "RPC_TIMEOUT_S": (GATEWAY, "rpc_timeout_s"),
    "RPC_POOL_SIZE": (GATEWAY, "rpc_pool_size"),
    "SYNC_CONVERT_TIMEOUT_S": (GATEWAY, "sync_convert_timeout_s"),
    "SSE_HEARTBEAT_S": (GATEWAY, "sse_heartbeat_s"),
    "AUTH_RATE_LIMIT": (GATEWAY, "auth_rate_limit"),
    "RATE_LIMIT_STORAGE": (GATEWAY, "rate_limit_storage"),
    "RATE_LIMIT_PREFIX": (GATEWAY, "rate_limit_prefix"),
    "LOGIN_USER_RATE_LIMIT": (GATEWAY, "login_rate_limit_per_user"),
    "TRUSTED_PROXIES": (GATEWAY, "trusted_proxies"),
    "JOB_USER_RATE_LIMIT": (GATEWAY, "job_rate_limit_per_user"),
    "CONVERT_CONCURRENCY": (GATEWAY, "convert_concurrency_per_user"),
    "REDELIVERY_USER_RATE_LIMIT": (NOTIFIER, "redelivery_rate_limit_per_user"),
    "MAX_FILES": (LIMITS, "max_files"),
    "MAX_FILE_BYTES": (LIMITS, "max_file_bytes"),
    "MAX_CONTENT_LENGTH": (LIMITS, "max_request_bytes"),
    "STORAGE_ROOT": (STORAGE, "root"),
    # uploads are hashed (SHA-256) only for result reuse: off, not paid for
    "REUSE_RESULTS": (JOBS, "reuse_results"),
    "JWT_ACCESS_TOKEN_EXPIRES": (AUTH, "access_token_ttl_s"),
    "JWT_REFRESH_TOKEN_EXPIRES": (AUTH, "refresh_token_ttl_s"),
}
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
