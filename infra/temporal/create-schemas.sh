#!/usr/bin/env bash
# Temporal's databases and schemas on PostgreSQL, with the schema tool and the versioned schema
# files of the admin-tools image (the same release as the server). Run on every `up`: creating
# an existing database is a no-op, setup-schema leaves a newer version alone, and update-schema
# applies only the versions not applied yet.
set -euo pipefail

for store in temporal:temporal temporal_visibility:visibility; do
  database=${store%%:*}
  schema=${store#*:}
  sql_tool=(temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -p "$DB_PORT"
    -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$database")
  "${sql_tool[@]}" create-database
  "${sql_tool[@]}" setup-schema -v 0.0
  "${sql_tool[@]}" update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
