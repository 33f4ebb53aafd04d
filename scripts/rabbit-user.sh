#!/usr/bin/env bash
# make run's own RabbitMQ user instead of guest: `convertix`, with a password
# generated once into .secrets/amqp.password (0600, git-ignored), allowed on
# the default vhost, tagged `monitoring` for the management API's queue
# stats. scripts/with-env.sh then points AMQP_URI and RABBITMQ_MANAGEMENT_URL
# at it. Idempotent. (The tests keep using guest on fresh vhosts: guest can
# only connect from this machine, which is RabbitMQ's own default.)
set -euo pipefail
cd "$(dirname "$0")/.."
user="${CONVERTIX_AMQP_USER:-convertix}"
mkdir -p .secrets && chmod 700 .secrets
[ -s .secrets/amqp.password ] ||
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > .secrets/amqp.password)
password="$(cat .secrets/amqp.password)"
if rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx "$user"; then
  rabbitmqctl -q change_password "$user" "$password" >/dev/null
else
  rabbitmqctl -q add_user "$user" "$password" >/dev/null
fi
rabbitmqctl -q set_permissions -p / "$user" ".*" ".*" ".*" >/dev/null
rabbitmqctl -q set_user_tags "$user" monitoring >/dev/null
echo "RabbitMQ user $user ready (password in .secrets/amqp.password)"
