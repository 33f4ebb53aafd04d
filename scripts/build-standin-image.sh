#!/usr/bin/env bash
# Builds `convertix-base:local` (or $STANDIN_IMAGE): a tiny image holding only
# busybox. It stands in for deploy/Dockerfile's image in the swarm tests: no
# base image can be pulled on the development and CI machines, so the
# containers run the project's code and its virtualenv from the host through
# read-only bind mounts (see tests/swarm/conftest.py). Idempotent; --force
# rebuilds.
set -euo pipefail
IMAGE="${STANDIN_IMAGE:-convertix-base:local}"
if [ "${1:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
# busybox-static's binary: the image must not depend on the host's libraries
busybox="$(command -v busybox)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/run/secrets"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for tool in sh env sed sleep cat; do ln -sf busybox "$root/bin/$tool"; done
# The host's /usr is mounted into the containers: where the host has merged
# /usr (Debian 12: /lib -> usr/lib), so does the image, so that the dynamic
# loader and `ldconfig -p` (ctypes.util.find_library: Wand, libmagic) work.
# /sbin stays a folder (Docker puts its init there), with ldconfig linked in.
for dir in lib lib64 lib32 libx32; do
  if [ -L "/$dir" ]; then ln -s "$(readlink "/$dir")" "$root/$dir"; fi
done
mkdir -p "$root/sbin"
if [ -L /sbin ]; then ln -s /usr/sbin/ldconfig "$root/sbin/ldconfig"; fi
echo "building $IMAGE"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/bin:/usr/local/bin:/usr/bin' \
  --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
