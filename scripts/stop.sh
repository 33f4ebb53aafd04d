#!/usr/bin/env bash
# Stops what scripts/run.sh started: SIGTERM to its supervisord, which stops
# the components one at a time, each gracefully (SIGTERM to its process
# group: work in flight finishes; the scaler's converter replicas finish what
# they hold), each SIGKILLed past its stop wait (infra/supervise/components.py).
cd "$(dirname "$0")/.."
pidfile="${CONVERTIX_VAR:-var}/run/supervisord.pid"
pid="$(cat "$pidfile" 2>/dev/null)"
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo "not running"
  exit 0
fi
kill -TERM "$pid"
# The longest graceful stop is a few minutes (every component's stop wait in turn).
for _ in $(seq $((2 * ${STOP_WAIT_S:-600}))); do
  kill -0 "$pid" 2>/dev/null || { echo "stopped"; exit 0; }
  sleep 0.5
done
echo "supervisord (pid $pid) did not stop; killing it" >&2
kill -KILL "$pid" 2>/dev/null
exit 1
