#!/usr/bin/env bash
# Three Docker engines on this one machine, joined as one Swarm: the three
# hosts of the deployment (deploy/README.md "Three nodes on one machine").
#
#   scripts/swarm-nodes.sh up      start the engines, form the swarm, label the nodes
#   scripts/swarm-nodes.sh down    stop the engines, remove their namespaces and data
#   scripts/swarm-nodes.sh stop NODE / start NODE
#                                  stop or start one engine (its data is kept)
#   scripts/swarm-nodes.sh env     the variables that point docker at the manager
#
# Each engine runs in a network namespace of its own (ip netns), with its own
# data root, exec root, socket, containerd and host name; the namespaces are
# joined to this host by veth pairs on a bridge, in a private subnet with no
# route anywhere else. Nothing here touches the default engine and its
# single-node swarm (scripts/start-docker.sh, tests/swarm).
#
#   edge        $SUBNET.1  manager; labels convertix.edge, convertix.data  (gateway, services,
#                          notifier, RabbitMQ, PostgreSQL, Redis, scaler)
#   processing  $SUBNET.2  manager; label convertix.processing  (converters, RabbitMQ)
#   edge2       $SUBNET.3  manager; label convertix.edge        (gateway, services, notifier, RabbitMQ)
#   this host   $SUBNET.254 on bridge $PREFIX-br
# All three are managers: the swarm (its Raft) keeps a majority with any one
# of them down. Each node also has a label convertix.broker=1|2|3 (the
# RabbitMQ cluster member it runs). Inside each engine's own mount namespace
# its socket is also at /run/cvx-node/docker.sock: the one path the stack
# gives the scaler, whichever manager runs it.
#
# Idempotent: `up` leaves running engines alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/wait.sh"

PREFIX="${CVX_NODES_PREFIX:-cvx}"
SUBNET="${CVX_NODES_SUBNET:-10.213.13}"
STATE="${CVX_NODES_STATE:-/var/lib/convertix-nodes}"
RUN="${CVX_NODES_RUN:-/run/convertix-nodes}"
NODES=(edge processing edge2)
declare -A ADDR=([edge]="$SUBNET.1" [processing]="$SUBNET.2" [edge2]="$SUBNET.3")
declare -A LABELS=([edge]="convertix.edge=true convertix.data=true convertix.broker=1"
                   [processing]="convertix.processing=true convertix.broker=3"
                   [edge2]="convertix.edge=true convertix.broker=2")
BRIDGE="$PREFIX-br"
HOST_ADDR="$SUBNET.254"
# overlay subnets come from here, away from the nodes' own subnet
ADDR_POOL="${CVX_NODES_ADDR_POOL:-10.214.0.0/16}"

ns() { echo "$PREFIX-$1"; }
sock() { echo "unix://$RUN/$1/docker.sock"; }
dk() { local node=$1; shift; docker -H "$(sock "$node")" "$@"; }
engine_up() { dk "$1" info >/dev/null 2>&1; }

net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_ADDR/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  for node in "${NODES[@]}"; do
    local n; n="$(ns "$node")"
    ip netns list | grep -qw "^$n" || ip netns add "$n"
    if ! ip link show "$n" >/dev/null 2>&1; then
      # host end "$n" on the bridge, namespace end eth0
      ip link add "$n" type veth peer name eth0 netns "$n"
      ip link set "$n" master "$BRIDGE" up
      ip -n "$n" addr add "${ADDR[$node]}/24" dev eth0
      ip -n "$n" link set eth0 up
      ip -n "$n" link set lo up
    fi
  done
}

engine_start() {
  local node=$1 n; n="$(ns "$node")"
  engine_up "$node" && return 0
  mkdir -p "$STATE/$node" "$RUN/$node"
  echo "starting the $node engine in namespace $n (log: $STATE/$node/dockerd.log)"
  # Its own UTS namespace too: the swarm shows the node as "$n". And its own
  # mount namespace, with a sysfs of its network namespace (what `ip netns
  # exec` does) but with the host's cgroup hierarchies kept under it, which
  # `ip netns exec` hides (dockerd: "Devices cgroup isn't mounted"). The
  # storage driver is Docker's choice (overlay2 where the file system allows).
  # --dns: the upstream the containers' DNS forwards unknown names to (a gone
  # member's host name) is the node's own address, where nothing listens, so
  # a lookup fails at once; the host's resolver is not reachable from here,
  # and its timeouts held the RabbitMQ members for minutes when one went.
  local cg="$RUN/$node/cgroup"
  mkdir -p "$cg"
  setsid nsenter --net="/run/netns/$n" unshare --uts --mount --propagation private sh -c "
      hostname $n && mount --rbind /sys/fs/cgroup $cg && mount -t sysfs sysfs /sys \
      && mount --rbind $cg /sys/fs/cgroup && umount -l $cg \
      && mkdir -p /run/cvx-node && mount -t tmpfs -o size=1m tmpfs /run/cvx-node \
      && exec dockerd --data-root $STATE/$node/docker --exec-root $RUN/$node/exec \
           --pidfile $RUN/$node/dockerd.pid -H $(sock "$node") \
           -H unix:///run/cvx-node/docker.sock --ip6tables=false --dns ${ADDR[$node]}" \
    </dev/null >>"$STATE/$node/dockerd.log" 2>&1 &
  if ! wait_for "the $node engine" 90 engine_up "$node"; then
    tail -n 30 "$STATE/$node/dockerd.log" >&2
    return 1
  fi
}

engine_stop() {
  local node=$1 pidfile="$RUN/$1/dockerd.pid"
  [ -s "$pidfile" ] || return 0
  local pid; pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  gone() { ! kill -0 "$pid" 2>/dev/null; }
  wait_for "the $node engine to stop" 60 gone || kill -KILL "$pid" 2>/dev/null || true
}

swarm_up() {
  local state; state="$(dk edge info --format '{{.Swarm.LocalNodeState}}')"
  if [ "$state" != "active" ]; then
    dk edge swarm init --advertise-addr "${ADDR[edge]}" --listen-addr "${ADDR[edge]}:2377" \
      --default-addr-pool "$ADDR_POOL" --default-addr-pool-mask-length 24 >/dev/null
  fi
  for node in "${NODES[@]:1}"; do
    if [ "$(dk "$node" info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
      dk "$node" swarm join --advertise-addr "${ADDR[$node]}" \
        --listen-addr "${ADDR[$node]}:2377" \
        --token "$(dk edge swarm join-token -q manager)" "${ADDR[edge]}:2377" >/dev/null
    fi
  done
  for node in "${NODES[@]}"; do
    local id; id="$(dk "$node" info --format '{{.Swarm.NodeID}}')"
    ready() { [ "$(dk edge node inspect --format '{{.Status.State}}' "$1")" = "ready" ]; }
    wait_for "node $node ready" 60 ready "$id"
    local args=() label
    for label in ${LABELS[$node]}; do args+=(--label-add "$label"); done
    dk edge node update "${args[@]}" "$id" >/dev/null
  done
}

case "${1:-}" in
  up)
    net_up
    for node in "${NODES[@]}"; do engine_start "$node"; done
    swarm_up
    dk edge node ls
    ;;
  start) net_up; engine_start "${2:?node}" ;;
  stop) engine_stop "${2:?node}" ;;
  down)
    for node in "${NODES[@]}"; do engine_stop "$node"; done
    for node in "${NODES[@]}"; do
      ip netns del "$(ns "$node")" 2>/dev/null || true
      ip link del "$(ns "$node")" 2>/dev/null || true
      # container mounts were made in the engine's own mount namespace and
      # went with it; the data goes too
      rm -rf "${STATE:?}/$node" "${RUN:?}/$node"
    done
    ip link del "$BRIDGE" 2>/dev/null || true
    ;;
  env) echo "DOCKER_HOST=$(sock edge)" ;;
  *) echo "usage: $0 up|down|start NODE|stop NODE|env" >&2; exit 2 ;;
esac
