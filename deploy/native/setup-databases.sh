#!/usr/bin/env bash
# Prepares PostgreSQL for the native topology, idempotently (safe on every start and after an upgrade):
#   1. as a PostgreSQL superuser (POSTGRES_ADMIN_URL): two login roles, Temporal's and Hookflow's, neither a
#      superuser, and the databases each owns (deploy/postgres/create-roles.sh, which compose runs too);
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

export POSTGRES_ADMIN_URL TEMPORAL_DB_USER TEMPORAL_DB_PASSWORD TEMPORAL_DB_NAME TEMPORAL_VISIBILITY_DB_NAME \
  HOOKFLOW_DB_USER HOOKFLOW_DB_PASSWORD HOOKFLOW_DB_NAME
sh "$here/../postgres/create-roles.sh"

PATH="$TEMPORAL_NATIVE_DIR:$PATH" \
  SCHEMA_DIR="$TEMPORAL_NATIVE_DIR/schema/postgresql/v12" \
  POSTGRES_SEEDS="$POSTGRES_HOST" DB_PORT="$POSTGRES_PORT" POSTGRES_USER="$TEMPORAL_DB_USER" SQL_PASSWORD="$TEMPORAL_DB_PASSWORD" \
  DBNAME="$TEMPORAL_DB_NAME" VISIBILITY_DBNAME="$TEMPORAL_VISIBILITY_DB_NAME" APP_DBNAME='' SKIP_DB_CREATE=true \
  sh "$here/../temporal/setup-postgres.sh" >&2
