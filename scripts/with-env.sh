#!/usr/bin/env bash
# Runs a command with Convertix's environment: the venv on PATH and the
# development JWT secret (generated once into .secrets/, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .secrets var
chmod 700 .secrets
if [ -z "${CONVERTIX_JWT_SECRET:-}" ]; then
  [ -s .secrets/jwt.key ] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > .secrets/jwt.key)
  CONVERTIX_JWT_SECRET="$(cat .secrets/jwt.key)"
  export CONVERTIX_JWT_SECRET
fi
# make run's RabbitMQ user (scripts/rabbit-user.sh), unless AMQP_URI is given
if [ -z "${AMQP_URI:-}" ] && [ -s .secrets/amqp.password ]; then
  amqp_password="$(cat .secrets/amqp.password)"
  export AMQP_URI="pyamqp://${CONVERTIX_AMQP_USER:-convertix}:$amqp_password@localhost:5672/"
  export RABBITMQ_MANAGEMENT_URL="${RABBITMQ_MANAGEMENT_URL:-http://${CONVERTIX_AMQP_USER:-convertix}:$amqp_password@localhost:15672}"
fi
export PATH="$PWD/.venv/bin:$PATH"
exec "$@"
