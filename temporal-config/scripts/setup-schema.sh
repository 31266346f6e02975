#!/bin/sh
# One-shot in temporalio/admin-tools: Temporal's schema in PostgreSQL, by Temporal's own
# temporal-sql-tool. The databases exist already (init-databases.sh). Safe to run on every
# `docker compose up`: setup-schema records version 0.0 only on an empty database, and
# update-schema applies just the versions a database lacks, so a newer server image's
# schema changes are applied by the same service before the new server starts.
set -eu

: "${SQL_PASSWORD:?SQL_PASSWORD is required}"  # read by temporal-sql-tool itself
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_USER:?}" "${DB_NAME:?}" "${VISIBILITY_DB_NAME:?}"
SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

schema() { # database, schema folder (temporal or visibility)
    sql="temporal-sql-tool --plugin postgres12 --ep $DB_HOST -p $DB_PORT -u $DB_USER --db $1"
    $sql setup-schema -v 0.0
    $sql update-schema -d "$SCHEMA_DIR/$2/versioned"
}

schema "$DB_NAME" temporal
schema "$VISIBILITY_DB_NAME" visibility
echo "Temporal schema is current in $DB_NAME and $VISIBILITY_DB_NAME"
