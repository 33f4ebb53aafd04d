#!/usr/bin/env bash
# Stops what scripts/run.sh started: SIGTERM to each process group (nameko
# and gunicorn stop gracefully: work in flight finishes), then SIGKILL after
# STOP_WAIT_S (150 s: longer than a conversion may take, so the scaler's
# converter replicas finish what they hold).
cd "$(dirname "$0")/.."
shopt -s nullglob
for pidfile in "${CONVERTIX_VAR:-var}"/run/*.pid; do
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || true
done
for pidfile in "${CONVERTIX_VAR:-var}"/run/*.pid; do
  pid=$(cat "$pidfile")
  for _ in $(seq $((2 * ${STOP_WAIT_S:-150}))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "stopped $(basename "$pidfile" .pid)"
done
