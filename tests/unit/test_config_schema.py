"""config.yaml's schema (infra/config/schema.py): the defaults are the file's,
unknown keys and bad values are refused naming the key, and the gateway, the
scaler and the logs read their defaults from it."""
import dataclasses
import os
import re
import subprocess
import sys

import pytest

from convertix.imaging import Limits
from gateway.settings import settings_from
from infra.config import load_checked, load_config
from infra.config.schema import (
    CONFIG,
    GATEWAY,
    LIMITS,
    LOGS,
    SCALER,
    SCALER_BACKENDS,
    ConfigError,
    Integer,
    Key,
    Section,
    read,
    validate,
)
from infra.logs.setup import LogSettings
from scaler.backends import BACKENDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_YAML = os.path.join(ROOT, "config.yaml")
FREE_FORM = {"LOGGING"}  # logging's own dictConfig: no default to compare with


@pytest.fixture
def empty_environment(monkeypatch):
    """No variable config.yaml names is set: each ${VAR:default} takes its default."""
    with open(CONFIG_YAML) as handle:
        for name in set(re.findall(r"\$\{(\w+)", handle.read())):
            monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("name", [name for name in CONFIG.keys if name not in FREE_FORM])
def test_each_default_is_what_config_yaml_says(empty_environment, name):
    config = load_config(CONFIG_YAML)
    assert name in config, f"config.yaml lacks {name}"
    assert CONFIG.keys[name].resolve(config[name], name) == CONFIG.keys[name].default


def test_config_yaml_passes_its_schema(empty_environment):
    validate(load_config(CONFIG_YAML))  # every key it has is in the schema


def test_every_key_has_a_doc_line():
    def keys(section, where=""):
        for key in section.keys.values():
            yield f"{where}{key.name}", key
            if hasattr(key.check, "keys"):
                yield from keys(key.check, f"{where}{key.name}.")
    for name, key in keys(CONFIG):
        assert key.doc.strip() and "\n" not in key.doc, name


@pytest.mark.parametrize("config, key", [
    ({"GATEWAY": {"rpc_timeout": 3}}, "GATEWAY.rpc_timeout"),
    ({"SCALER": {"local": {"workers": 2}}}, "SCALER.local.workers"),
    ({"LIMITS": {"max_file_size": 1}}, "LIMITS.max_file_size"),
    ({"GATEWY": {}}, "GATEWY"),
])
def test_unknown_keys_are_refused_by_name(config, key):
    with pytest.raises(ConfigError, match=rf"^config\.yaml: {re.escape(key)}: unknown key"):
        validate(config)


@pytest.mark.parametrize("config, message", [
    ({"SCALER": {"max_replicas": "x"}},
     "SCALER.max_replicas: expected an integer >= 1, got 'x'"),
    ({"SCALER": {"min_replicas": -1}}, "SCALER.min_replicas: expected an integer >= 0, got -1"),
    ({"SCALER": {"backend": "kubernetes"}},
     "SCALER.backend: expected one of 'local', 'swarm', got 'kubernetes'"),
    ({"SCALER": {"local": {"stop_timeout_s": 0}}},
     "SCALER.local.stop_timeout_s: expected a number > 0, got 0"),
    ({"GATEWAY": {"rpc_timeout_s": True}}, "GATEWAY.rpc_timeout_s: expected a number > 0"),
    ({"GATEWAY": {"port": 70000}}, "GATEWAY.port: expected an integer in [0, 65535]"),
    ({"LIMITS": {"max_pixels": 2.5}}, "LIMITS.max_pixels: expected an integer >= 1, got 2.5"),
    ({"LIMITS": ["max_pixels"]}, "LIMITS: expected a mapping"),
    ({"LOGS": {"retention_days": "a week"}}, "LOGS.retention_days: expected a number > 0"),
    ({"NOTIFIER": {"jitter": 2}}, "NOTIFIER.jitter: expected a number in [0, 1], got 2"),
    ({"WEBHOOK_ALLOW_PRIVATE": "maybe"}, "WEBHOOK_ALLOW_PRIVATE: expected true or false"),
    ({"max_workers": 0}, "max_workers: expected an integer >= 1, got 0"),
    ({"DB_URIS": "sqlite://"}, "DB_URIS: expected a mapping"),
    # rules between keys
    ({"LIMITS": {"max_file_bytes": 60 * 2**20}},
     "LIMITS: max_file_bytes (62914560) must be at most max_input_bytes (52428800)"),
    ({"SCALER": {"min_replicas": 3, "max_replicas": 2}},
     "SCALER: min_replicas (3) must be at most max_replicas (2)"),
])
def test_bad_values_are_refused_by_name(config, message):
    with pytest.raises(ConfigError) as refused:
        validate(config, source="my.yaml")
    assert str(refused.value).startswith(f"my.yaml: {message}")


@pytest.mark.parametrize("raw, value", [
    ({"max_replicas": "3"}, 3),          # ${VAR} values may arrive as text
    ({"max_replicas": None}, 4),         # `key:` alone, or ${VAR:}: the default
    ({"max_replicas": ""}, 4),
])
def test_values_are_typed_and_empty_means_default(raw, value):
    assert SCALER.resolve(raw)["max_replicas"] == value


def test_a_key_defined_twice_is_a_mistake():
    with pytest.raises(ValueError, match="defined twice"):
        Section("X", "doc", Key("a", 1, Integer(), "one"), Key("a", 2, Integer(), "two"))


def test_nameko_keys_pass_through():
    config = {"AMQP_URI": "pyamqp://x", "serializer": "json", "HEARTBEAT": 30}
    assert validate(config)["HEARTBEAT"] == 30


def test_the_gateway_reads_its_defaults_from_the_schema():
    settings = settings_from({})
    assert settings["RPC_TIMEOUT_S"] == GATEWAY.default["rpc_timeout_s"] == 30
    assert settings["AUTH_RATE_LIMIT"] == GATEWAY.default["auth_rate_limit"]
    assert settings["MAX_CONTENT_LENGTH"] == LIMITS.default["max_request_bytes"]
    assert settings["LOGS"] == LOGS.default


def test_the_gateway_refuses_a_bad_config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("GATEWAY:\n  rpc_pool_size: many\n")
    with pytest.raises(ConfigError, match="GATEWAY.rpc_pool_size: expected an integer"):
        from gateway.settings import load_settings
        load_settings(str(path))


def test_the_conversion_bounds_default_to_limits_own():
    assert {name: LIMITS.default[name] for name in Limits.__dataclass_fields__} == \
        dataclasses.asdict(Limits())


def test_log_settings_default_to_the_schema():
    settings = LogSettings.from_section(None)
    assert dataclasses.asdict(settings) == {**LOGS.default, "spool_dir": "var/log/spool"}


def test_the_backend_table_and_the_schema_agree():
    assert set(BACKENDS) == set(SCALER_BACKENDS)


def test_load_checked_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("SCALER:\n  max_replicas: x\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: SCALER.max_replicas"):
        load_checked(str(path))
    assert read(load_config(str(path)), GATEWAY) == GATEWAY.default  # other sections unaffected


def test_a_service_process_refuses_to_start_on_a_bad_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("AMQP_URI: pyamqp://guest:guest@localhost:5672/\n"
                    "SCALER:\n  max_replicas: x\n")
    done = subprocess.run(
        [sys.executable, "-m", "infra.runner", "--config", str(path), "services.jobs.service"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "SCALER.max_replicas: expected an integer >= 1, got 'x'" in done.stderr
