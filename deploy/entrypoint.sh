#!/bin/sh
# The image's entrypoint: secrets from files, then the command.
#
# For every variable NAME_FILE in the environment, NAME is exported with the
# content of that file (trailing newlines dropped) and NAME_FILE is unset.
# Swarm and compose mount secrets as files under /run/secrets, while the
# application reads CONVERTIX_JWT_SECRET, DATABASE_URL, AMQP_URI and
# RABBITMQ_MANAGEMENT_URL from the environment:
#     CONVERTIX_JWT_SECRET_FILE=/run/secrets/jwt_secret  ->  CONVERTIX_JWT_SECRET
# Setting both NAME and NAME_FILE is an error. POSIX sh (busybox's too).
set -eu
for file_var in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1_FILE/p'); do
  name=${file_var%_FILE}
  eval "path=\${$file_var}"
  eval "already=\${$name:-}"
  if [ -n "$already" ]; then
    echo "entrypoint: both $name and $file_var are set; use one" >&2
    exit 64
  fi
  if [ ! -r "$path" ]; then
    echo "entrypoint: $file_var=$path is not a readable file" >&2
    exit 66
  fi
  value=$(cat "$path")
  export "$name=$value"
  unset "$file_var"
done
exec "$@"
