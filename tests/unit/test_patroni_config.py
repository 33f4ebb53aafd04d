"""The patroni image's configuration from its environment
(deploy/patroni_config.py): what the stack sets becomes Patroni's YAML; a
missing setting or secret stops the container with its name."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    "patroni_config", os.path.join(ROOT, "deploy", "patroni_config.py"))
patroni_config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(patroni_config)

STACK = {"PATRONI_NAME": "patroni1", "ETCD_HOSTS": "etcd1:2379, etcd2:2379,etcd3:2379",
         "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"}
SECRETS = {"/run/secrets/postgres_password": "pw", "/run/secrets/replication": "rpw"}


def config(**env):
    return patroni_config.config({**STACK, **env}, read=lambda path, _name: SECRETS[path])


def test_the_stacks_settings():
    c = config()
    assert (c["scope"], c["name"], c["etcd3"]["hosts"]) == (
        "convertix", "patroni1", ["etcd1:2379", "etcd2:2379", "etcd3:2379"])
    # the other member and the services reach it by its name
    assert c["postgresql"]["connect_address"] == "patroni1:5432"
    assert c["restapi"] == {"listen": "0.0.0.0:8008", "connect_address": "patroni1:8008"}
    auth = c["postgresql"]["authentication"]
    assert auth == {"superuser": {"username": "convertix", "password": "pw"},
                    "replication": {"username": "replicator", "password": "pw"}}
    dcs = c["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"], dcs["synchronous_mode"]) == (
        20, 5, 5, True)
    assert "CREATE DATABASE \"convertix\"" in c["bootstrap"]["post_bootstrap"]
    assert c["postgresql"]["pg_hba"][1:] == [
        "host replication replicator all scram-sha-256", "host all all all scram-sha-256"]


@pytest.mark.parametrize("env, path, expected", [
    ({"CONNECT_HOST": "10.0.0.5"}, ("postgresql", "connect_address"), "10.0.0.5:5432"),
    ({"PG_HBA_ADDRESS": "10.0.9.0/24"}, ("postgresql", "pg_hba", 2),
     "host all all 10.0.9.0/24 scram-sha-256"),
    ({"REPLICATION_PASSWORD_FILE": "/run/secrets/replication"},
     ("postgresql", "authentication", "replication", "password"), "rpw"),
    ({"SYNCHRONOUS_MODE": "off"}, ("bootstrap", "dcs", "synchronous_mode"), False),
    ({"POSTGRES_DB": "postgres"}, ("bootstrap", "post_bootstrap"), ""),
    ({"TTL_S": "10", "LOOP_WAIT_S": "2", "RETRY_TIMEOUT_S": "4"}, ("bootstrap", "dcs", "ttl"), 10),
    ({"PG_PARAMETERS": "work_mem=8MB  dynamic_shared_memory_type=mmap"},
     ("postgresql", "parameters", "dynamic_shared_memory_type"), "mmap"),
])
def test_a_setting(env, path, expected):
    value = config(**env)
    for key in path:
        value = value[key]
    assert value == expected


@pytest.mark.parametrize("env, named", [
    ({"PATRONI_NAME": ""}, "PATRONI_NAME"),
    ({"ETCD_HOSTS": ""}, "ETCD_HOSTS"),
    ({"POSTGRES_PASSWORD_FILE": ""}, "POSTGRES_PASSWORD_FILE"),
    ({"TTL_S": "10"}, "TTL_S"),   # 5 + 2 * 5 > 10: a busy primary would lose its lock
    ({"PG_PARAMETERS": "work_mem"}, "PG_PARAMETERS"),
])
def test_what_is_refused_is_named(env, named):
    with pytest.raises(patroni_config.MissingSetting, match=named):
        config(**env)


def test_an_unreadable_secret_is_named(tmp_path):
    with pytest.raises(patroni_config.MissingSetting, match="POSTGRES_PASSWORD_FILE"):
        patroni_config.config({**STACK, "POSTGRES_PASSWORD_FILE": str(tmp_path / "none")})
