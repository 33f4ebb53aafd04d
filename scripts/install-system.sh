#!/usr/bin/env bash
# Installs the Debian packages Convertix needs, if any is missing.
# RabbitMQ (broker), PostgreSQL (optional database, used by the tests),
# ImageMagick's library (Wand), libmagic (sniffing), Prometheus (its server
# and promtool: the metrics tests run both against deploy/), Chromium (the
# browser tests drive it with playwright; never `playwright install`), Patroni
# and etcd (the PostgreSQL failover test runs both, as the stack does).
set -euo pipefail

PACKAGES=(rabbitmq-server postgresql libmagickwand-6.q16-6 libmagic1 libcairo2 libseccomp2 redis-server prometheus chromium patroni etcd-server)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
