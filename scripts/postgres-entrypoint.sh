#!/bin/sh
# Entry point of the local PostgreSQL image (scripts/base-images.sh), which stands in for the
# official postgres image where no registry can be reached: it reads the official image's
# variables (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA), makes the cluster on the
# first start (password login from any address, scram-sha-256) and runs the server as PID 1.
set -eu
if [ "${1:-}" = "" ] || [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi
shift
bin=/usr/lib/postgresql/15/bin
data=${PGDATA:-/var/lib/postgresql/data}
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p "$data" /var/run/postgresql
chown postgres:postgres "$data" /var/run/postgresql
chmod 700 "$data"
if [ ! -s "$data/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "POSTGRES_PASSWORD must be set: the database takes password logins only" >&2
    exit 1
  fi
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  chown postgres "$password_file"
  $as_postgres "$bin/initdb" -D "$data" -U "$user" --pwfile="$password_file" -E UTF8 \
    --no-locale --auth-local=trust --auth-host=scram-sha-256 > /dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\" OWNER \"$user\"" |
      $as_postgres "$bin/postgres" --single -D "$data" -j postgres > /dev/null
  fi
  echo "database $database of $user made in $data"
fi
exec $as_postgres "$bin/postgres" -D "$data" -c listen_addresses='*' "$@"
