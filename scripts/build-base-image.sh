#!/usr/bin/env bash
# Builds `convertix-base:bookworm` (or $BASE_IMAGE): a minimal Debian 12 root
# file system made here from Debian's packages with mmdebstrap, turned into an
# image by `docker import`. Every Convertix image (deploy/Dockerfile,
# deploy/backends.Dockerfile) starts from it: no registry serves base images
# on the development and CI machines.
#
# Cached: the image carries a label with the hash of this script; when an
# image with the same hash exists, nothing is done. --force rebuilds.
# DOCKER_HOST picks the engine, as for every docker command.
set -euo pipefail
IMAGE="${BASE_IMAGE:-convertix-base:bookworm}"
LABEL=org.convertix.base.inputs
inputs="$(sha256sum "$0" | cut -c1-16)"

have="$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null || true)"
if [ "${1:-}" != "--force" ] && [ "$have" = "$inputs" ]; then
  echo "$IMAGE is up to date ($inputs)"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "installing: mmdebstrap"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mmdebstrap >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
# minbase: apt, dpkg and the essential set, nothing else. No documentation,
# manual pages or translations (the images never need them); the package
# lists are dropped: every Dockerfile runs `apt-get update` first.
mmdebstrap --quiet --variant=minbase --format=tar \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  bookworm "$work/rootfs.tar" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"

docker import \
  --change "LABEL $LABEL=$inputs" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "built $IMAGE in $((SECONDS - start)) s: $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
