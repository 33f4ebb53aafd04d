#!/usr/bin/env bash
# Starts a Docker engine in Swarm mode on this machine, for the swarm backend
# and the stack tests (docs: deploy/README.md). Idempotent: what already runs
# is left alone. Fails loudly (non-zero exit) when the engine or the swarm
# does not come up, so that the swarm tests are never silently skipped.
#
# 1. installs docker.io and busybox-static with apt-get when dockerd is missing;
# 2. starts dockerd when `docker info` does not answer: no bridge and no
#    iptables (containers use the host network), the vfs storage driver
#    (works on any filesystem, including overlay-on-overlay);
# 3. `docker swarm init` when this node is not in a swarm yet;
# 4. builds the tiny stand-in image (scripts/build-standin-image.sh) if absent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/wait.sh"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"

if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
  echo "installing: docker.io busybox-static"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io busybox-static >/dev/null
fi

engine_up() { docker info >/dev/null 2>&1; }
if ! engine_up; then
  echo "starting dockerd (log: $LOG)"
  # its own session, so that it outlives this script and `make test`
  $SUDO setsid dockerd --iptables=false --ip6tables=false --bridge=none \
    --storage-driver=vfs </dev/null >>"$LOG" 2>&1 &
  if ! wait_for "the Docker engine" 90 engine_up; then
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
fi

state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
if [ "$(state)" != "active" ]; then
  if [ "$(state)" = "inactive" ]; then
    echo "initialising a single-node swarm"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  fi
  swarm_up() { [ "$(state)" = "active" ]; }
  if ! wait_for "the swarm" 60 swarm_up; then
    docker info >&2 || true
    exit 1
  fi
fi
# the manager must be able to run tasks (it is the only node here)
wait_for "a ready swarm node" 60 bash -c \
  '[ "$(docker node ls --format "{{.Status}} {{.Availability}}" | grep -c "^Ready Active")" -ge 1 ]'

bash "$here/build-standin-image.sh"
echo "docker: engine $(docker version --format '{{.Server.Version}}'), swarm active"
