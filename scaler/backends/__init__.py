"""Backends by name (config `SCALER.backend`): a table, not an if-chain.
Imported lazily so that `local` needs no docker SDK."""
import importlib

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
    return backend_class(settings.get("backend") or "local").from_config(config, settings)
