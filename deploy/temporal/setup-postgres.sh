#!/bin/sh
# One-shot schema setup, run by the `temporal-admin-tools` service (temporalio/admin-tools) before the
# Temporal server starts, and by deploy/native/setup-databases.sh on hosts without containers. Adapted from temporalio/samples-server compose/scripts/setup-postgres.sh.
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
: "${SKIP_DB_CREATE:=false}" # true: the databases exist already (deploy/native creates them as a superuser)
: "${APP_DBNAME=hookflow}" # empty: skip (deploy/native creates it, owned by Hookflow's own role)
: "${SCHEMA_DIR:=/etc/temporal/schema/postgresql/v12}"

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"
}
create_db() { if [ "$SKIP_DB_CREATE" != true ]; then sql --db "$1" create; fi; }

echo 'Starting PostgreSQL schema setup...'
if command -v nc >/dev/null 2>&1; then # the admin-tools image has it; a native host may not (then the tool's error says it)
  echo 'Waiting for PostgreSQL port to be available...'
  nc -z -w 10 "$POSTGRES_SEEDS" "$DB_PORT"
  echo 'PostgreSQL port is available'
fi

# Temporal persistence database
create_db "$DBNAME"
sql --db "$DBNAME" setup-schema -v 0.0
sql --db "$DBNAME" update-schema -d "$SCHEMA_DIR/temporal/versioned"

# Temporal visibility database
create_db "$VISIBILITY_DBNAME"
sql --db "$VISIBILITY_DBNAME" setup-schema -v 0.0
sql --db "$VISIBILITY_DBNAME" update-schema -d "$SCHEMA_DIR/visibility/versioned"

# Hookflow's own database (empty; the API applies its Drizzle migrations on start). Done here rather than
# in a /docker-entrypoint-initdb.d script so that it also happens on an existing data volume.
if [ -n "$APP_DBNAME" ]; then create_db "$APP_DBNAME"; fi

echo 'PostgreSQL schema setup complete'
