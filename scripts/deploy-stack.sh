#!/usr/bin/env bash
# Deploys deploy/docker-stack.yml on the three-node swarm of this machine
# (scripts/swarm-nodes.sh), from images built here (scripts/build-images.sh):
#
#   bash scripts/build-images.sh && bash scripts/deploy-stack.sh     (= make deploy)
#   bash scripts/deploy-stack.sh rm                                   the stack goes; nodes stay
#
# 1. brings the three nodes up (idempotent);
# 2. copies the images from the build engine into the nodes' engines
#    (docker save | docker load), only those a node lacks at the same id;
# 3. creates the Swarm secrets once: random passwords, kept in
#    $CVX_NODES_STATE/secrets (root only) so a re-deploy reuses them;
# 4. the shared storage: a folder of this machine that both nodes mount (the
#    nodes share its file system; NFS where they do not: deploy/README.md);
# 5. `docker stack deploy` as $STACK (default convertix), and waits until the
#    gateways, on the two edge nodes' addresses, say ready.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$here/wait.sh"
STACK="${STACK:-convertix}"
STATE="${CVX_NODES_STATE:-/var/lib/convertix-nodes}"
RUN="${CVX_NODES_RUN:-/run/convertix-nodes}"
SUBNET="${CVX_NODES_SUBNET:-10.213.13}"
APP="${CONVERTIX_IMAGE:-convertix:latest}"
RABBITMQ="${RABBITMQ_IMAGE:-convertix-rabbitmq:latest}"
POSTGRES="${POSTGRES_IMAGE:-convertix-postgres:latest}"
REDIS="${REDIS_IMAGE:-convertix-redis:latest}"
edge() { docker -H "unix://$RUN/edge/docker.sock" "$@"; }
# where scripts/build-images.sh built them
BUILT="${CVX_BUILD_DOCKER_HOST:-$(bash "$here/build-engine.sh")}"

if [ "${1:-}" = "rm" ]; then
  edge stack rm "$STACK"
  exit 0
fi

bash "$here/swarm-nodes.sh" up >/dev/null

# --- 2. images --------------------------------------------------------------
copy_image() {  # copy_image IMAGE NODE
  local image=$1 node=$2 sock="unix://$RUN/$2/docker.sock" want have
  want="$(docker -H "$BUILT" image inspect --format '{{.Id}}' "$image")"
  have="$(docker -H "$sock" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  [ "$want" = "$have" ] && return 0
  local start=$SECONDS
  docker -H "$BUILT" save "$image" | docker -H "$sock" load -q >/dev/null
  echo "copied $image to the $node node in $((SECONDS - start)) s"
}
for node in edge processing edge2; do
  copy_image "$APP" "$node"
  copy_image "$RABBITMQ" "$node"
done
copy_image "$POSTGRES" edge
copy_image "$REDIS" edge

# --- 3. secrets -------------------------------------------------------------
secrets="$STATE/secrets"
mkdir -p "$secrets" && chmod 700 "$secrets"
keep() {  # keep NAME: a random value, made once
  [ -s "$secrets/$1" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secrets/$1")
  cat "$secrets/$1"
}
rabbit_pass="$(keep rabbitmq_password)"
pg_pass="$(keep postgres_password)"
declare -A SECRET=(
  [jwt_secret]="$(keep jwt_secret)"
  [amqp_uri]="pyamqp://convertix:$rabbit_pass@rabbitmq:5672/"
  [rabbitmq_management_url]="http://convertix:$rabbit_pass@rabbitmq:15672"
  [database_url]="postgresql+psycopg2://convertix:$pg_pass@postgres:5432/convertix"
  [postgres_password]="$pg_pass"
  # the RabbitMQ cluster's members share it (Erlang's distribution)
  [rabbitmq_erlang_cookie]="$(keep rabbitmq_erlang_cookie)"
  [rabbitmq_conf]="$(printf 'default_user = convertix\ndefault_pass = %s\n' "$rabbit_pass")"
)
for key in "${!SECRET[@]}"; do
  name="${SECRET_PREFIX:-$STACK}_$key"
  edge secret inspect "$name" >/dev/null 2>&1 \
    || printf '%s' "${SECRET[$key]}" | edge secret create "$name" - >/dev/null
done

# --- 4. storage -------------------------------------------------------------
storage="${STORAGE_DIR:-$STATE/shared/storage}"
mkdir -p "$storage" && chown 1000 "$storage"   # the image's user, uid 1000

# --- 5. the stack -----------------------------------------------------------
# The overlay network is encrypted (IPsec ESP, AES-GCM) where the kernel can:
# the same transport-mode SA Docker would add, tried in a throwaway network
# namespace. Where it cannot, Docker adds the SAs in vain ("Failed Adding
# ... rfc4106(gcm(aes)) ...: function not implemented") and drops the
# unencrypted VXLAN traffic, so the nodes could not talk at all: the network
# is deployed without the option, and this says so.
stack_file() {
  local probe="cvx-esp-probe-$$" out
  ip netns add "$probe"
  if out="$(ip netns exec "$probe" ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp \
        spi 0x100 reqid 1 mode transport aead 'rfc4106(gcm(aes))' \
        0x0102030405060708090a0b0c0d0e0f1011121314 64 2>&1)"; then
    ip netns del "$probe"
    cat "$root/deploy/docker-stack.yml"
  else
    ip netns del "$probe"
    echo "overlay network NOT encrypted: this kernel cannot add an ESP AES-GCM SA ($out)" >&2
    grep -v '^ *driver_opts: {encrypted: ""}' "$root/deploy/docker-stack.yml"
  fi
}
stack_file | SECRET_PREFIX="${SECRET_PREFIX:-$STACK}" SWARM_SERVICE="${STACK}_converter" \
DOCKER_SOCKET=/run/cvx-node/docker.sock \
STORAGE_TYPE=none STORAGE_OPTS=bind STORAGE_DEVICE="$storage" \
  edge stack deploy --resolve-image never --prune -c - "$STACK"

ready() { curl -sf --max-time 5 "$1/readyz" | grep -q '"converter":"ok"'; }
for url in "http://$SUBNET.1:8080" "http://$SUBNET.3:8080"; do
  if ! wait_for "the stack's gateway at $url" "${DEPLOY_WAIT_S:-300}" ready "$url"; then
    edge stack ps --no-trunc "$STACK" >&2 || true
    exit 1
  fi
done
echo "Convertix is ready at http://$SUBNET.1:8080 and http://$SUBNET.3:8080" \
  "(docker -H unix://$RUN/edge/docker.sock stack ps $STACK)"
