"""Load config.yaml the way `nameko run --config` does, and check it.

`${VAR:default}` is expanded from the environment by nameko's own YAML
resolver, so the gateway, the services and the scaler read one file with the
same rules. Every key, default and check: infra/config/schema.py.
"""
import os

import yaml

DEFAULT_CONFIG_PATH = "config.yaml"
CONFIG_PATH_ENV = "CONVERTIX_CONFIG"


def config_path(path=None):
    return path or os.environ.get(CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH)


def load_config(path=None):
    from nameko.cli.main import setup_yaml_parser  # the same resolver as `nameko run`

    setup_yaml_parser()
    with open(config_path(path)) as handle:
        return yaml.safe_load(handle) or {}


def load_checked(path=None):
    """The config, refused (ConfigError naming the key) if the schema refuses
    it: what a process reads at start-up. Returns it as loaded."""
    from infra.config.schema import validate

    config = load_config(path)
    validate(config, source=config_path(path))
    return config
