#!/usr/bin/env bash
# Stops what scripts/run.sh started: SIGTERM to each process group (nameko
# and gunicorn stop gracefully: work in flight finishes), then SIGKILL after 30 s.
cd "$(dirname "$0")/.."
shopt -s nullglob
for pidfile in "${CONVERTIX_VAR:-var}"/run/*.pid; do
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || true
done
for pidfile in "${CONVERTIX_VAR:-var}"/run/*.pid; do
  pid=$(cat "$pidfile")
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "stopped $(basename "$pidfile" .pid)"
done
