#!/bin/bash
# PostgreSQL first start (mounted into /docker-entrypoint-initdb.d, so it runs only while
# the data volume is empty): a role and two databases for Temporal, a role and a database
# for durasumi's app database. Each role owns its databases and nothing else, so the
# platform's processes cannot read Temporal's tables and Temporal cannot read the app's.
set -euo pipefail

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is required}"

# psql variables (:'name') quote the passwords as SQL literals.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v temporal_password="$TEMPORAL_DB_PASSWORD" -v app_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE ROLE durasumi LOGIN PASSWORD :'app_password';
CREATE DATABASE durasumi OWNER durasumi;
SQL
