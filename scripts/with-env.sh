#!/usr/bin/env bash
# Runs a command with Convertix's environment: the venv on PATH and the
# development JWT secret (generated once into .secrets/, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .secrets var
if [ -z "${CONVERTIX_JWT_SECRET:-}" ]; then
  [ -s .secrets/jwt.key ] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > .secrets/jwt.key)
  CONVERTIX_JWT_SECRET="$(cat .secrets/jwt.key)"
  export CONVERTIX_JWT_SECRET
fi
export PATH="$PWD/.venv/bin:$PATH"
exec "$@"
