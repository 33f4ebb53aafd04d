#!/bin/bash
# RabbitMQ's entrypoint: one member of a cluster (the stack runs three), or a
# broker alone where no RABBITMQ_CLUSTER_SEED is given.
#
# - the Erlang cookie, which the members share, from the file
#   $RABBITMQ_ERLANG_COOKIE_FILE (a Swarm secret): copied to the user's home
#   with mode 0400, as Erlang demands;
# - classic peer discovery by host name: a member other than the seed lists
#   rabbit@$RABBITMQ_CLUSTER_SEED and joins its cluster. On its first start
#   (an empty volume) it waits until the seed answers, so that the three
#   never form three clusters of one; once a member has data it rejoins its
#   cluster on its own;
# - a member lost is noticed within seconds (net_ticktime);
# - once this member runs, every quorum queue gets a replica here too (a
#   queue declared before this member joined has none on it).
set -euo pipefail
home=/var/lib/rabbitmq
if [ -n "${RABBITMQ_ERLANG_COOKIE_FILE:-}" ]; then
  install -m 400 "$RABBITMQ_ERLANG_COOKIE_FILE" "$home/.erlang.cookie"
fi
seed="${RABBITMQ_CLUSTER_SEED:-}"
conf=/etc/rabbitmq/conf.d/10-cluster.conf
if [ -n "$seed" ]; then
  # A member whose node vanished (its engine stopped: no connection is reset)
  # is noticed after net_ticktime (Erlang's default, 60 s, held the quorum
  # queues it led for a minute). Every member must have the same value.
  # (Not a shorter AMQP heartbeat than the default: a converter draining its
  # conversions after SIGTERM sends none, and would lose its connection.)
  printf '%s\n' "net_ticktime = ${RABBITMQ_NET_TICKTIME_S:-10}" >"$conf"
  # A partition (two members that stopped seeing each other, under load or
  # around a member's restart) is healed: once the members see each other
  # again, the side with fewer clients restarts and takes the other side's
  # metadata (autoheal). With the default, `ignore`, a partition found in a
  # deploy run stayed for good (duplicate queues, declarations unanswered
  # for minutes); with `pause_minority`, a missed tick between two members
  # while the third was restarting left one of them, which had kept its
  # majority through the restarting one, with queues and bindings the other
  # two did not have, for good (RPC replies routed by them were dropped).
  # Not right either: in a deploy run, autoheal begun when a killed member
  # came back restarted a second member while the third's node was stopped.
  printf '%s\n' "cluster_partition_handling = autoheal" >>"$conf"
fi
if [ -n "$seed" ] && [ "$seed" != "$(hostname)" ]; then
  printf '%s\n' "cluster_formation.peer_discovery_backend = classic_config" \
    "cluster_formation.classic_config.nodes.1 = rabbit@$seed" >>"$conf"
  if [ ! -d "$home/mnesia" ]; then
    for _ in $(seq 600); do
      timeout 3 bash -c "</dev/tcp/$seed/5672" 2>/dev/null && break
      sleep 1
    done
  fi
fi
if [ -n "$seed" ]; then
  ( until rabbitmq-diagnostics -q check_running >/dev/null 2>&1; do sleep 5; done
    rabbitmq-queues grow "rabbit@$(hostname)" all >/dev/null 2>&1 || true ) &
fi
exec rabbitmq-server
