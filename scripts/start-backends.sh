#!/usr/bin/env bash
# Starts RabbitMQ (with its management and Prometheus plugins), Redis and, with
# --postgres, PostgreSQL with a `convertix` role for the tests. Idempotent:
# whatever already answers is left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/wait.sh"

rabbit_up() { rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
if ! rabbit_up; then
  rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus >/dev/null
  echo "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for "RabbitMQ" 90 rabbit_up
fi
# Redis: the gateway's rate-limit counters, shared by all its processes.
# On loopback only, nothing kept on disk (counters expire within the hour).
redis_up() { redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
  echo "starting Redis"
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  wait_for "Redis" 30 redis_up
fi
# The management API (queue stats, test vhosts) comes up a moment after AMQP.
wait_for "RabbitMQ management API" 60 curl -sf -u guest:guest http://localhost:15672/api/overview -o /dev/null

if [ "${1:-}" = "--postgres" ]; then
  pg_up() { su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1; }
  if ! pg_up; then
    echo "starting PostgreSQL"
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    cluster_dir=/var/lib/postgresql/$version/main
    [ -d "$cluster_dir" ] || pg_createcluster "$version" main >/dev/null
    pg_ctlcluster "$version" main start || true
    wait_for "PostgreSQL" 60 pg_up
  fi
  su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='convertix'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"create role convertix login createdb password 'convertix'\""
fi
