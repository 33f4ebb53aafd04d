#!/bin/sh
# The etcd image's entrypoint (deploy/backends.Dockerfile, target etcd). etcd
# reads its ETCD_* variables itself; the URLs this member advertises default
# to its name (the stack names each etcd service as its member: etcd1, ...).
set -eu
: "${ETCD_NAME:?ETCD_NAME must be set: this member's name, the host name the others reach it by}"
: "${ETCD_ADVERTISE_CLIENT_URLS:=http://$ETCD_NAME:2379}"
: "${ETCD_INITIAL_ADVERTISE_PEER_URLS:=http://$ETCD_NAME:2380}"
export ETCD_ADVERTISE_CLIENT_URLS ETCD_INITIAL_ADVERTISE_PEER_URLS
exec "$@"
