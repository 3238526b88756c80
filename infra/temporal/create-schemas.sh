#!/bin/sh
# Temporal's databases and schemas on PostgreSQL, with the schema tool and the versioned schema
# files of the admin-tools image (the same release as the server). POSIX sh: the image is Alpine
# with BusyBox, no bash. The tool reads its connection from SQL_PLUGIN, SQL_HOST, SQL_PORT,
# SQL_USER and SQL_PASSWORD (the compose file sets them): no password on a command line. Run on
# every `up`: creating an existing database is a no-op, setup-schema leaves a newer version
# alone, and update-schema applies only the versions not applied yet.
set -eu

for store in temporal:temporal temporal_visibility:visibility; do
  database=${store%%:*}
  schema=${store#*:}
  temporal-sql-tool --db "$database" create-database
  temporal-sql-tool --db "$database" setup-schema -v 0.0
  temporal-sql-tool --db "$database" update-schema \
    -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
