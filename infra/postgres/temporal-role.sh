#!/bin/sh
# Temporal's own role. The temporal-schema service creates Temporal's databases (temporal and
# temporal_visibility) with it, and the server connects with it. Its password: psql reads it
# from TEMPORAL_DB_PASSWORD (infra/.env, through the compose file) with \getenv, so that it is
# on no command line. The project's role and database (hybrid) come from the image's
# POSTGRES_* variables. Like every init script, this runs once, on an empty data volume (the
# image's entrypoint sources it: no `set` here, which would change the entrypoint's own shell).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv password TEMPORAL_DB_PASSWORD
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'password';
SQL
