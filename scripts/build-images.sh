#!/usr/bin/env bash
# Builds every image the stack runs, from Debian's packages and PyPI only:
#   convertix-base:bookworm   scripts/build-base-image.sh (mmdebstrap)
#   convertix:latest          deploy/Dockerfile        ($CONVERTIX_IMAGE)
#   convertix-rabbitmq:latest deploy/backends.Dockerfile, target rabbitmq
#   convertix-postgres:latest deploy/backends.Dockerfile, target postgres
#   convertix-redis:latest    deploy/backends.Dockerfile, target redis
#   convertix-patroni:latest  deploy/backends.Dockerfile, target patroni
#   convertix-etcd:latest     deploy/backends.Dockerfile, target etcd
# Cached: Docker's build cache reuses every step whose inputs did not change
# (a code change rebuilds only the last steps of the application image).
#
# The build context is the files git knows under $SOURCES (tracked, or
# untracked and not ignored), sent as a tar stream: no virtualenv, no var/. When the host has a
# CA bundle (a TLS proxy in front of PyPI), it rides along as
# deploy/pip-ca.crt, used by the builder stage only.
# Builds with --network host (apt and pip reach their mirrors as the host does),
# on the build engine (scripts/build-engine.sh: overlay2, not the default
# engine's vfs), or on $CVX_BUILD_DOCKER_HOST. The images stay there;
# scripts/deploy-stack.sh copies them into the nodes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
DOCKER_HOST="${CVX_BUILD_DOCKER_HOST:-$(bash "$here/build-engine.sh")}"
export DOCKER_HOST
BASE="${BASE_IMAGE:-convertix-base:bookworm}"
APP="${CONVERTIX_IMAGE:-convertix:latest}"
RABBITMQ="${RABBITMQ_IMAGE:-convertix-rabbitmq:latest}"
POSTGRES="${POSTGRES_IMAGE:-convertix-postgres:latest}"
REDIS="${REDIS_IMAGE:-convertix-redis:latest}"
PATRONI="${PATRONI_IMAGE:-convertix-patroni:latest}"
ETCD="${ETCD_IMAGE:-convertix-etcd:latest}"
CA="${PIP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

BASE_IMAGE="$BASE" bash "$here/build-base-image.sh"

# what the Dockerfiles copy (tests, docs and benchmarks stay out)
SOURCES="setup.py setup.cfg README.md config.yaml convertix infra services gateway scaler
  deploy/Dockerfile deploy/backends.Dockerfile deploy/entrypoint.sh deploy/healthcheck.py
  deploy/postgres-entrypoint.sh deploy/patroni-entrypoint.sh deploy/patroni_config.py
  deploy/etcd-entrypoint.sh deploy/rabbitmq-entrypoint.sh"
context() {  # the build context on stdout
  cd "$root"
  local extra=()
  [ -r "$CA" ] && extra=(-C "$(dirname "$CA")" --transform "s,^$(basename "$CA")\$,deploy/pip-ca.crt," "$(basename "$CA")")
  git ls-files -z --cached --others --exclude-standard -- $SOURCES \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -c -T - "${extra[@]}"
}
build() {  # build TAG DOCKERFILE [ARGS...]
  local tag=$1 file=$2; shift 2
  local start=$SECONDS
  context | docker build --quiet --network host --build-arg "BASE_IMAGE=$BASE" \
    -f "$file" -t "$tag" "$@" - >/dev/null
  echo "built $tag in $((SECONDS - start)) s: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}
build "$APP" deploy/Dockerfile
build "$RABBITMQ" deploy/backends.Dockerfile --target rabbitmq
build "$POSTGRES" deploy/backends.Dockerfile --target postgres
build "$REDIS" deploy/backends.Dockerfile --target redis
build "$PATRONI" deploy/backends.Dockerfile --target patroni
build "$ETCD" deploy/backends.Dockerfile --target etcd
