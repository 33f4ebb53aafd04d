"""Backends by name (config `SCALER.backend`): a table, not an if-chain.
Imported lazily so that `local` needs no docker SDK. The names config may
give are the schema's SCALER_BACKENDS (tests/unit/test_config_schema.py
checks that both agree)."""
import importlib

from infra.config.schema import SCALER

BACKENDS = {
    "local": "scaler.backends.local:LocalBackend",
    "swarm": "scaler.backends.swarm:SwarmBackend",
}


def backend_class(name):
    try:
        module, _, attr = BACKENDS[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown scaler backend {name!r}; one of {sorted(BACKENDS)}") from None
    return getattr(importlib.import_module(module), attr)


def make_backend(config, settings):
    """config: the whole config.yaml; settings: its SCALER section."""
    settings = SCALER.resolve(settings)
    return backend_class(settings["backend"]).from_config(config, settings)
