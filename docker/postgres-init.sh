#!/bin/bash
# The two databases, each owned by a role of its own: Label Studio's ("labelstudio") and the ML
# backend's ("backend"). Neither role can connect to the other's database. PostgreSQL's image
# runs this once, when its data volume is empty; a later password change is an ALTER ROLE.
set -euo pipefail

psql --no-psqlrc --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=label_studio_password="$LABEL_STUDIO_DB_PASSWORD" \
    --set=backend_password="$BACKEND_DB_PASSWORD" <<'SQL'
CREATE ROLE labelstudio LOGIN PASSWORD :'label_studio_password';
CREATE DATABASE labelstudio OWNER labelstudio;
REVOKE ALL ON DATABASE labelstudio FROM PUBLIC;

CREATE ROLE backend LOGIN PASSWORD :'backend_password';
CREATE DATABASE backend OWNER backend;
REVOKE ALL ON DATABASE backend FROM PUBLIC;
SQL
