#!/bin/sh
# One-shot schema setup, run by the `temporal-admin-tools` service (temporalio/admin-tools) before the
# Temporal server starts. Adapted from temporalio/samples-server compose/scripts/setup-postgres.sh.
# Every step is idempotent, so it is safe on each `docker compose up`, and after a Temporal upgrade it applies
# the new schema versions: `create` ignores an existing database, `setup-schema -v 0.0` keeps a newer version,
# `update-schema` applies only the pending versioned migrations.
# The password comes from SQL_PASSWORD (read by temporal-sql-tool).
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
: "${APP_DBNAME:=hookflow}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"
}

echo 'Starting PostgreSQL schema setup...'
echo 'Waiting for PostgreSQL port to be available...'
nc -z -w 10 "$POSTGRES_SEEDS" "$DB_PORT"
echo 'PostgreSQL port is available'

# Temporal persistence database
sql --db "$DBNAME" create
sql --db "$DBNAME" setup-schema -v 0.0
sql --db "$DBNAME" update-schema -d "$SCHEMA_DIR/temporal/versioned"

# Temporal visibility database
sql --db "$VISIBILITY_DBNAME" create
sql --db "$VISIBILITY_DBNAME" setup-schema -v 0.0
sql --db "$VISIBILITY_DBNAME" update-schema -d "$SCHEMA_DIR/visibility/versioned"

# Hookflow's own database (empty; the API applies its Drizzle migrations on start). Done here rather than
# in a /docker-entrypoint-initdb.d script so that it also happens on an existing data volume.
sql --db "$APP_DBNAME" create

echo 'PostgreSQL schema setup complete'
