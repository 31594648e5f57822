#!/usr/bin/env bash
# Prepares PostgreSQL for the native topology, idempotently (safe on every start and after an upgrade):
#   1. as a PostgreSQL superuser (POSTGRES_ADMIN_URL): two login roles, Temporal's and Hookflow's, neither a
#      superuser, and one database each owns: temporal + temporal_visibility (Temporal's role), hookflow (Hookflow's);
#   2. as Temporal's role: the same schema setup the compose stack runs (deploy/temporal/setup-postgres.sh with
#      temporal-sql-tool), with the schema files that deploy/native/build.sh copied out of the server module.
#
# Needs psql, and temporal-sql-tool from deploy/native/build.sh (TEMPORAL_NATIVE_DIR = the directory it printed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

: "${TEMPORAL_NATIVE_DIR:?set TEMPORAL_NATIVE_DIR to the directory deploy/native/build.sh printed}"
: "${POSTGRES_ADMIN_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
: "${POSTGRES_HOST:=127.0.0.1}"
: "${POSTGRES_PORT:=5432}"
: "${TEMPORAL_DB_USER:=temporal}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD (the password of Temporal's database role)}"
: "${TEMPORAL_DB_NAME:=temporal}"
: "${TEMPORAL_VISIBILITY_DB_NAME:=temporal_visibility}"
: "${HOOKFLOW_DB_USER:=hookflow}"
: "${HOOKFLOW_DB_PASSWORD:?set HOOKFLOW_DB_PASSWORD (the password of Hookflow's database role)}"
: "${HOOKFLOW_DB_NAME:=hookflow}"

echo "setup-databases: roles $TEMPORAL_DB_USER and $HOOKFLOW_DB_USER, databases $TEMPORAL_DB_NAME, $TEMPORAL_VISIBILITY_DB_NAME, $HOOKFLOW_DB_NAME" >&2
# \gexec runs each generated statement; format(%I, %L) quotes names and passwords. Passwords are set on every run, so
# changing one in the environment and restarting is how to rotate it.
psql "$POSTGRES_ADMIN_URL" -v ON_ERROR_STOP=1 -q \
  -v temporal_user="$TEMPORAL_DB_USER" -v temporal_password="$TEMPORAL_DB_PASSWORD" \
  -v hookflow_user="$HOOKFLOW_DB_USER" -v hookflow_password="$HOOKFLOW_DB_PASSWORD" \
  -v temporal_db="$TEMPORAL_DB_NAME" -v visibility_db="$TEMPORAL_VISIBILITY_DB_NAME" -v hookflow_db="$HOOKFLOW_DB_NAME" <<'SQL'
select format('create role %I login', r) from unnest(array[:'temporal_user', :'hookflow_user']) as r
  where not exists (select from pg_roles where rolname = r) \gexec
select format('alter role %I nosuperuser nocreaterole nocreatedb login password %L', :'temporal_user', :'temporal_password') \gexec
select format('alter role %I nosuperuser nocreaterole nocreatedb login password %L', :'hookflow_user', :'hookflow_password') \gexec
select format('create database %I owner %I', d.name, d.owner)
  from (values (:'temporal_db', :'temporal_user'), (:'visibility_db', :'temporal_user'), (:'hookflow_db', :'hookflow_user')) as d(name, owner)
  where not exists (select from pg_database where datname = d.name) \gexec
-- Only its owner may connect to each database (PUBLIC can by default).
select format('revoke connect on database %I from public', d) from unnest(array[:'temporal_db', :'visibility_db', :'hookflow_db']) as d \gexec
SQL

PATH="$TEMPORAL_NATIVE_DIR:$PATH" \
  SCHEMA_DIR="$TEMPORAL_NATIVE_DIR/schema/postgresql/v12" \
  POSTGRES_SEEDS="$POSTGRES_HOST" DB_PORT="$POSTGRES_PORT" POSTGRES_USER="$TEMPORAL_DB_USER" SQL_PASSWORD="$TEMPORAL_DB_PASSWORD" \
  DBNAME="$TEMPORAL_DB_NAME" VISIBILITY_DBNAME="$TEMPORAL_VISIBILITY_DB_NAME" APP_DBNAME='' SKIP_DB_CREATE=true \
  sh "$here/../temporal/setup-postgres.sh" >&2
