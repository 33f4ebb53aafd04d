"""Flask settings, from the one config.yaml (and secrets from the environment)."""
import os

from infra.config import load_config, section
from convertix.contract import LOGS_KEY
from convertix.contract import (
    AMQP_URI_KEY, AUTH_KEY, GATEWAY_KEY, JWT_SECRET_ENV, LIMITS_KEY, MANAGEMENT_URL_KEY,
    STORAGE_KEY,
)

# Flask key -> (config.yaml section, key, default)
FROM_CONFIG = {
    "RPC_TIMEOUT_S": (GATEWAY_KEY, "rpc_timeout_s", 10),
    "RPC_POOL_SIZE": (GATEWAY_KEY, "rpc_pool_size", 8),
    "SYNC_CONVERT_TIMEOUT_S": (GATEWAY_KEY, "sync_convert_timeout_s", 10),
    "AUTH_RATE_LIMIT": (GATEWAY_KEY, "auth_rate_limit", "10 per minute"),
    "RATE_LIMIT_STORAGE": (GATEWAY_KEY, "rate_limit_storage", "memory://"),
    "MAX_FILES": (LIMITS_KEY, "max_files", 50),
    "MAX_FILE_BYTES": (LIMITS_KEY, "max_file_bytes", 50 * 2**20),
    "MAX_CONTENT_LENGTH": (LIMITS_KEY, "max_request_bytes", 200 * 2**20),
    "STORAGE_ROOT": (STORAGE_KEY, "root", "var/storage"),
    "JWT_ACCESS_TOKEN_EXPIRES": (AUTH_KEY, "access_token_ttl_s", 900),
    "JWT_REFRESH_TOKEN_EXPIRES": (AUTH_KEY, "refresh_token_ttl_s", 30 * 24 * 3600),
}


def settings_from(config):
    values = {"AMQP_URI": config[AMQP_URI_KEY]}
    for flask_key, (sect, key, default) in FROM_CONFIG.items():
        values[flask_key] = section(config, sect).get(key, default)
    values["LOGS"] = section(config, LOGS_KEY)  # the admin log search reads it
    values["RABBITMQ_MANAGEMENT_URL"] = config.get(MANAGEMENT_URL_KEY)  # admin stats
    return values


def load_settings(path=None):
    settings = settings_from(load_config(path))
    secret = os.environ.get(JWT_SECRET_ENV)
    if secret:
        settings["JWT_SECRET_KEY"] = secret
    return settings
