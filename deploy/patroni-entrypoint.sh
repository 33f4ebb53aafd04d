#!/bin/sh
# The patroni image's entrypoint (deploy/backends.Dockerfile, target patroni):
# Patroni's YAML from the environment (deploy/patroni_config.py: member and
# cluster names, etcd's hosts, the passwords from secret files), then
# `exec`: Patroni is PID 1, runs PostgreSQL as its child, and on SIGTERM
# stops it and hands the leader lock over at once.
set -eu
config="${PATRONI_CONFIG_FILE:-/tmp/patroni.yml}"
umask 077   # the YAML holds the passwords
python3 /usr/local/lib/convertix/patroni_config.py > "$config"
[ "$1" = "patroni" ] && shift && exec patroni "$config" "$@"
exec "$@"
