"""Patroni's configuration from the environment: the patroni image's
entrypoint (deploy/patroni-entrypoint.sh) writes it as YAML, and the
failover test (tests/integration/test_postgres_failover.py) runs real
Patroni on what it writes. Python's standard library and PyYAML only (the
image runs it with Debian's python3, beside Patroni).

    python3 patroni_config.py > patroni.yml

The environment (ENV below: name, default, meaning; None: required):
passwords come from files (Swarm secrets), never from the environment.
Patroni reads PATRONI_* variables itself too: only PATRONI_NAME and
PATRONI_SCOPE are used here, with Patroni's own meaning.
"""
import os
import sys

# name -> (default, meaning)
ENV = {
    "PATRONI_SCOPE": ("convertix", "the cluster's name in etcd (one per database cluster)"),
    "PATRONI_NAME": (None, "this member's name, unique in the cluster"),
    "ETCD_HOSTS": (None, "etcd's client endpoints, host:port,host:port,..."),
    "CONNECT_HOST": ("", "how the other member and the services reach this one (empty: PATRONI_NAME)"),
    "LISTEN_HOST": ("0.0.0.0", "where PostgreSQL and the REST API listen"),
    "PG_PORT": ("5432", "PostgreSQL's port"),
    "API_PORT": ("8008", "Patroni's REST API port (health checks: /health, /primary)"),
    "PGDATA": ("/var/lib/postgresql/data", "the cluster's folder (a volume), 0700"),
    "PG_BIN_DIR": ("/usr/lib/postgresql/15/bin", "initdb, postgres, pg_basebackup, pg_rewind"),
    "PG_SOCKET_DIR": ("/var/run/postgresql", "the Unix socket's folder (Patroni's own connections)"),
    "PGPASS_FILE": ("/tmp/patroni.pgpass", "where Patroni writes the passwords it connects with"),
    "POSTGRES_USER": ("convertix", "the superuser, the role the services connect as"),
    "POSTGRES_DB": ("", "the database made at bootstrap (empty: POSTGRES_USER)"),
    "POSTGRES_PASSWORD_FILE": (None, "the superuser's password (a secret)"),
    "REPLICATION_USER": ("replicator", "the role the standby streams WAL as"),
    "REPLICATION_PASSWORD_FILE": ("", "its password (a secret; empty: POSTGRES_PASSWORD_FILE's)"),
    "PG_HBA_ADDRESS": ("all", "who may connect over TCP (scram-sha-256): the overlay's CIDR"),
    "TTL_S": ("20", "the leader lock's lifetime: a dead primary is replaced after at most this"),
    "LOOP_WAIT_S": ("5", "seconds between Patroni's checks"),
    "RETRY_TIMEOUT_S": ("5", "etcd or PostgreSQL unreachable this long: the primary steps down"),
    "SYNCHRONOUS_MODE": ("on", "on: a commit is acknowledged once on the standby too"),
    "PG_PARAMETERS": ("", "more postgresql.conf settings of this member: name=value name=value"),
}


class MissingSetting(ValueError):
    """A required variable or secret file is missing; the message names it."""


def settings(env):
    """ENV's values from `env`, defaults filled in; MissingSetting if a required one is absent."""
    values = {}
    for name, (default, _meaning) in ENV.items():
        value = env.get(name, "") or default
        if value is None:
            raise MissingSetting(f"{name} must be set: {ENV[name][1]}")
        values[name] = value
    return values


def read_secret(path, name):
    try:
        with open(path) as f:
            return f.read().rstrip("\n")
    except OSError as exc:
        raise MissingSetting(f"{name}={path}: not a readable file ({exc.strerror})") from None


def parameters(text):
    """{name: value} of `name=value name=value` (PG_PARAMETERS)."""
    pairs = {}
    for item in text.split():
        name, equals, value = item.partition("=")
        if not (name and equals):
            raise MissingSetting(f"PG_PARAMETERS: expected name=value, got {item!r}")
        pairs[name] = value
    return pairs


def config(env, read=read_secret):
    """Patroni's configuration (a dict) from the environment `env`."""
    s = settings(env)
    name = s["PATRONI_NAME"]
    host = s["CONNECT_HOST"] or name
    user, database = s["POSTGRES_USER"], s["POSTGRES_DB"] or s["POSTGRES_USER"]
    password = read(s["POSTGRES_PASSWORD_FILE"], "POSTGRES_PASSWORD_FILE")
    replication_file = s["REPLICATION_PASSWORD_FILE"] or s["POSTGRES_PASSWORD_FILE"]
    ttl, loop_wait, retry = (int(s[k]) for k in ("TTL_S", "LOOP_WAIT_S", "RETRY_TIMEOUT_S"))
    if loop_wait + 2 * retry > ttl:  # Patroni's rule: else a busy primary loses its lock
        raise MissingSetting(f"LOOP_WAIT_S + 2 * RETRY_TIMEOUT_S must be <= TTL_S "
                             f"({loop_wait} + 2 * {retry} > {ttl})")
    address = s["PG_HBA_ADDRESS"]
    psql = os.path.join(s["PG_BIN_DIR"], "psql")
    return {
        "scope": s["PATRONI_SCOPE"],
        "name": name,
        "restapi": {"listen": f"{s['LISTEN_HOST']}:{s['API_PORT']}",
                    "connect_address": f"{host}:{s['API_PORT']}"},
        "etcd3": {"hosts": [h.strip() for h in s["ETCD_HOSTS"].split(",") if h.strip()]},
        "bootstrap": {
            # written to etcd by the first member, then the cluster's (patronictl edit-config)
            "dcs": {
                "ttl": ttl, "loop_wait": loop_wait, "retry_timeout": retry,
                # synchronous: only the synchronous standby may be promoted, so
                # a commit the services saw acknowledged survives the failover;
                # not strict: with the standby gone the primary goes on alone
                "synchronous_mode": s["SYNCHRONOUS_MODE"] in ("on", "true", "1", "yes"),
                "synchronous_mode_strict": False,
                # asynchronous mode's bound on the WAL a promotion may lose (bytes)
                "maximum_lag_on_failover": 1048576,
                "postgresql": {
                    "use_pg_rewind": True,   # the old primary rejoins as a standby
                    "use_slots": True,       # WAL kept until the standby has it
                    "parameters": {"wal_log_hints": "on", "max_wal_senders": 10,
                                   "max_replication_slots": 10, "hot_standby": "on",
                                   "wal_keep_size": "128MB",
                                   # a standby's node lost without a reset: its
                                   # walsender ends after this, and Patroni then
                                   # lets the primary commit alone (PostgreSQL's
                                   # default, 60 s, would stall commits that long)
                                   "wal_sender_timeout": "10s"},
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            # psql gets Patroni's connection string as its last argument
            "post_bootstrap": f"{psql} -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE \"{database}\"'"
            if database != "postgres" else "",
        },
        "postgresql": {
            "listen": f"{s['LISTEN_HOST']}:{s['PG_PORT']}",
            "connect_address": f"{host}:{s['PG_PORT']}",
            "data_dir": s["PGDATA"],
            "bin_dir": s["PG_BIN_DIR"],
            "pgpass": s["PGPASS_FILE"],
            # a new standby's copy starts at once (the default spreads the
            # primary's checkpoint over minutes)
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                "superuser": {"username": user, "password": password},
                "replication": {"username": s["REPLICATION_USER"],
                                "password": read(replication_file, "REPLICATION_PASSWORD_FILE")},
            },
            "parameters": {"unix_socket_directories": s["PG_SOCKET_DIR"],
                           "password_encryption": "scram-sha-256",
                           **parameters(s["PG_PARAMETERS"])},
            # the socket is the container's (or the test's private folder): trust;
            # everything over TCP with a password
            "pg_hba": [
                "local all all trust",
                f"host replication {s['REPLICATION_USER']} {address} scram-sha-256",
                f"host all all {address} scram-sha-256",
            ],
        },
        # no watchdog device in a container: the lock's TTL is the fence
        "watchdog": {"mode": "off"},
    }


def main():
    import yaml  # Debian's python3-yaml (a dependency of patroni)

    try:
        written = config(os.environ)
    except MissingSetting as exc:
        print(f"patroni-config: {exc}", file=sys.stderr)
        return 66
    yaml.safe_dump(written, sys.stdout, default_flow_style=False, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
