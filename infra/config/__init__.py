"""Load config.yaml the way `nameko run --config` does.

`${VAR:default}` is expanded from the environment by nameko's own YAML
resolver, so the gateway, the services and the scaler read one file with the
same rules.
"""
import os

import yaml

DEFAULT_CONFIG_PATH = "config.yaml"
CONFIG_PATH_ENV = "CONVERTIX_CONFIG"


def load_config(path=None):
    from nameko.cli.main import setup_yaml_parser  # the same resolver as `nameko run`

    setup_yaml_parser()
    path = path or os.environ.get(CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH)
    with open(path) as handle:
        return yaml.safe_load(handle)


def section(config, key):
    """A config section as a dict (empty if absent)."""
    return dict(config.get(key) or {})
