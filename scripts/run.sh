#!/usr/bin/env bash
# Starts the whole system on this machine: RabbitMQ (installed with apt-get
# if no broker answers), then, under supervisord, the accounts+jobs services, the notifier,
# the scaler (which starts the converter replicas) and the gateway under gunicorn; waits
# until /readyz says ready and prints the URL. A component that exits is started again.
# Ctrl-C (or `make stop` from another shell) stops it all gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything this run and its processes create (logs, the SQLite database,
# storage, metrics files) is the service user's alone: 0600 files, 0700 folders.
umask 077
VAR="${CONVERTIX_VAR:-var}"
RUN=$VAR/run LOGS=$VAR/log
mkdir -p "$RUN" "$LOGS"

broker_answers() {
  .venv/bin/python - <<'PY' 2>/dev/null
from kombu import Connection
from infra.config import load_config
Connection(load_config()["AMQP_URI"], connect_timeout=2).ensure_connection(max_retries=1)
PY
}
redis_answers() { redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG; }
if ! broker_answers || ! redis_answers; then
  # packages and system services keep their usual modes
  (umask 022; bash scripts/install-system.sh; bash scripts/start-backends.sh)
fi
# Our own broker user with a generated password, not guest (unless AMQP_URI
# names a broker of your own): scripts/with-env.sh passes it on.
[ -n "${AMQP_URI:-}" ] || bash scripts/rabbit-user.sh

# Already running (this CONVERTIX_VAR): say so rather than start a second one.
if [ -s "$RUN/supervisord.pid" ] && kill -0 "$(cat "$RUN/supervisord.pid")" 2>/dev/null; then
  echo "Convertix is already running (supervisord pid $(cat "$RUN/supervisord.pid")); 'make stop' stops it" >&2
  exit 1
fi

# make migrate: the services refuse a database behind this code's schema.
bash scripts/with-env.sh python -m infra.migrations upgrade

# Every component under supervisord (infra/supervise/components.py): the
# accounts+jobs services, the notifier, the scaler (which starts and stops
# the converter replicas) and the gateway under gunicorn, each started again
# when it exits; one that keeps failing at start is reported and left
# stopped, the others keep running.
conf="$(.venv/bin/python -m infra.supervise.components "$VAR")"
.venv/bin/supervisord -c "$conf" &
supervisord_pid=$!
stop_all() {
  trap '' INT TERM  # a second Ctrl-C does not cut the graceful stop short
  echo "stopping (work in flight finishes first)..."
  kill -TERM "$supervisord_pid" 2>/dev/null || true
  wait "$supervisord_pid" 2>/dev/null || true
  echo "stopped"
  exit 0
}
trap stop_all INT TERM

port="$(.venv/bin/python -c 'from infra.config import load_config; print(load_config()["GATEWAY"]["port"])')"
scheme=http; [ -n "${TLS_CERT:-}" ] && scheme=https
url="$scheme://127.0.0.1:$port"
# ready: the gateway answers, and so do the services and a converter
ready() { curl -ksf "$url/readyz" | grep -q '"converter":"ok"'; }
running() { kill -0 "$supervisord_pid" 2>/dev/null; }
deadline=$((SECONDS + 90))
until ready; do
  if ! running; then  # stopped (`make stop`), or it could not start
    status=0; wait "$supervisord_pid" || status=$?
    [ "$status" -eq 0 ] && { echo "stopped"; exit 0; }
    echo "supervisord exited ($status); see $LOGS/supervisord.log" >&2
    exit 1
  fi
  if [ $SECONDS -ge $deadline ] && [ -z "${told:-}" ]; then
    told=1  # keep waiting: a component still starting (or failing) is retried
    echo "not ready after 90 s; still trying. Components:" >&2
    .venv/bin/supervisorctl -c "$conf" status >&2 || true
    echo "their logs: $LOGS/<component>.log" >&2
  fi
  sleep 0.5
done
echo
echo "Convertix is ready at $url  (API: $url/api/v1, logs in $LOGS/)"
echo "Every component is supervised: one that exits is started again. Its state:"
echo "  .venv/bin/supervisorctl -c $conf status"
echo "Ctrl-C or 'make stop' stops it."
# In the foreground until Ctrl-C, or `make stop` from another shell stops supervisord.
status=0; wait "$supervisord_pid" || status=$?
if [ "$status" -ne 0 ]; then
  echo "supervisord exited ($status); see $LOGS/supervisord.log" >&2
  exit 1
fi
echo "stopped"
