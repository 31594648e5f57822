#!/bin/sh
# Creates the two database roles of a Hookflow deployment and the databases each owns, idempotently, as a PostgreSQL
# superuser (POSTGRES_ADMIN_URL, or the libpq PG* variables when it is empty):
#   Temporal's role: temporal + temporal_visibility      Hookflow's role: hookflow
# Neither role is a superuser or may create roles or databases, and only its owner may connect to each database: a
# leaked Hookflow credential reads no Temporal history, and the reverse. Passwords are (re)set on every run, so
# changing one in the environment and running this again rotates it. Run by the compose file's `postgres-init`
# service and by deploy/native/setup-databases.sh. Needs psql.
set -eu

: "${POSTGRES_ADMIN_URL:=}"
: "${TEMPORAL_DB_USER:=temporal}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD (the password of Temporal's database role)}"
: "${TEMPORAL_DB_NAME:=temporal}"
: "${TEMPORAL_VISIBILITY_DB_NAME:=temporal_visibility}"
: "${HOOKFLOW_DB_USER:=hookflow}"
: "${HOOKFLOW_DB_PASSWORD:?set HOOKFLOW_DB_PASSWORD (the password of Hookflow's database role)}"
: "${HOOKFLOW_DB_NAME:=hookflow}"

echo "create-roles: roles $TEMPORAL_DB_USER and $HOOKFLOW_DB_USER; databases $TEMPORAL_DB_NAME, $TEMPORAL_VISIBILITY_DB_NAME, $HOOKFLOW_DB_NAME" >&2
# \gexec runs each generated statement; format(%I, %L) quotes names and passwords.
psql ${POSTGRES_ADMIN_URL:+"$POSTGRES_ADMIN_URL"} -v ON_ERROR_STOP=1 -q \
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
select format('revoke connect on database %I from public', d) from unnest(array[:'temporal_db', :'visibility_db', :'hookflow_db']) as d \gexec
SQL
