#!/bin/sh
# PostgreSQL's entrypoint (deploy/backends.Dockerfile): on first start, an
# empty $PGDATA gets a cluster whose superuser is $POSTGRES_USER (password
# from $POSTGRES_PASSWORD_FILE, a Swarm secret), a database $POSTGRES_DB, and
# password logins (scram-sha-256) from the network. Then `exec`: the server
# is PID 1 and gets SIGINT (the image's stop signal: a fast shutdown) itself.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ ! -r "${POSTGRES_PASSWORD_FILE:-}" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD_FILE must name a readable file" >&2
    exit 66
  fi
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \
    --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != "postgres" ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" \
      | postgres --single -D "$PGDATA" -c listen_addresses='' postgres >/dev/null
  fi
  echo "postgres-entrypoint: new cluster in $PGDATA, database $POSTGRES_DB"
fi
[ "$1" = "postgres" ] && shift && exec postgres -D "$PGDATA" "$@"
exec "$@"
