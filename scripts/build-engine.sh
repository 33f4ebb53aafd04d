#!/usr/bin/env bash
# Starts the Docker engine the images are built on (scripts/build-images.sh),
# and prints its DOCKER_HOST. Idempotent.
#
# An engine of its own, in this host's network namespace (apt and pip reach
# their mirrors as the host does; the nodes' namespaces reach nothing), with
# its own data root, so that the storage driver is Docker's choice: overlay2
# where the file system allows it. The default engine (scripts/start-docker.sh)
# runs vfs, which copies the whole file system for every build step: minutes
# per image. No bridge, no iptables: builds use --network host.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/wait.sh"
STATE="${CVX_BUILD_STATE:-/var/lib/convertix-build}"
RUN="${CVX_BUILD_RUN:-/run/convertix-build}"
SOCK="unix://$RUN/docker.sock"
up() { docker -H "$SOCK" info >/dev/null 2>&1; }
if ! up; then
  command -v dockerd >/dev/null || bash "$here/start-docker.sh" >&2   # installs docker.io
  mkdir -p "$STATE" "$RUN"
  echo "starting the build engine (log: $STATE/dockerd.log)" >&2
  setsid dockerd --data-root "$STATE/docker" --exec-root "$RUN/exec" \
    --pidfile "$RUN/dockerd.pid" -H "$SOCK" \
    --bridge=none --iptables=false --ip6tables=false \
    </dev/null >>"$STATE/dockerd.log" 2>&1 &
  if ! wait_for "the build engine" 90 up; then
    tail -n 30 "$STATE/dockerd.log" >&2
    exit 1
  fi
fi
echo "$SOCK"
