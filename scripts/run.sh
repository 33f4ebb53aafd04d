#!/usr/bin/env bash
# Starts the whole system on this machine: RabbitMQ (installed with apt-get
# if no broker answers), the accounts+jobs services, the notifier, the scaler (which starts
# the converter replicas) and the gateway under gunicorn; waits until /readyz says ready and prints the URL.
# Ctrl-C (or `make stop` from another shell) stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wait.sh
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

start() {  # start NAME COMMAND...: in the background, its own process group, logged
  local name=$1; shift
  setsid bash scripts/with-env.sh "$@" >"$LOGS/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  echo "started $name (pid $!, log $LOGS/$name.log)"
}

stop_all() { bash scripts/stop.sh; }
trap 'stop_all; exit 0' INT TERM

# make migrate: the services refuse a database behind this code's schema.
bash scripts/with-env.sh python -m infra.migrations upgrade

# infra.runner is `nameko run` without its start-up SIGTERM race.
start services python -m infra.runner --config config.yaml \
  services.accounts.service services.jobs.service
# Webhooks: a process of its own, so a slow receiver never slows the pipeline.
start notifier python -m infra.runner --config config.yaml services.notifier.service
# The scaler starts and stops the converter replicas (SCALER in config.yaml:
# between SCALER_MIN_REPLICAS and SCALER_MAX_REPLICAS, following the queue).
start scaler python -m infra.runner --config config.yaml scaler.service
start gateway gunicorn -c gateway/gunicorn_conf.py gateway.wsgi:app

port="$(.venv/bin/python -c 'from infra.config import load_config; print(load_config()["GATEWAY"]["port"])')"
scheme=http; [ -n "${TLS_CERT:-}" ] && scheme=https
url="$scheme://127.0.0.1:$port"
# ready: the gateway answers, and so do the services and a converter
ready() { curl -ksf "$url/readyz" | grep -q '"converter":"ok"'; }
if ! wait_for "Convertix" 90 ready; then
  echo "not ready; see $LOGS/*.log" >&2
  tail -n 20 "$LOGS"/*.log >&2
  stop_all
  exit 1
fi
echo
echo "Convertix is ready at $url  (API: $url/api/v1, logs in $LOGS/)"
echo "Ctrl-C or 'make stop' stops it."
# Stay in the foreground until interrupted, or until a component dies.
shopt -s nullglob
while true; do
  pidfiles=("$RUN"/*.pid)
  if [ ${#pidfiles[@]} -eq 0 ]; then  # `make stop` from another shell
    echo "stopped"
    exit 0
  fi
  for pidfile in "${pidfiles[@]}"; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$(basename "$pidfile" .pid) exited; stopping" >&2
      stop_all
      exit 1
    fi
  done
  sleep 1
done
