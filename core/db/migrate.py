"""Ordered SQL migrations from infra/migrations, each applied once and recorded.

A file is applied in its own transaction together with its row in `schema_migrations`, under an
advisory lock, so concurrent or repeated runs are no-ops. Editing an applied file is an error:
add a new one instead."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from core.db.connections import connect
from core.errors import InvalidInput
from core.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "infra" / "migrations"
_LOCK_ID = 7_233_001

log = logging.getLogger(__name__)


class MigrationError(InvalidInput):
    pass


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def apply_migrations(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet applied; returns their versions in order."""
    applied_now: list[str] = []
    with connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "create table if not exists schema_migrations ("
                " version text primary key, checksum text not null,"
                " applied_at timestamptz not null default now())"
            )
            done: dict[str, str] = dict(
                conn.execute("select version, checksum from schema_migrations").fetchall()
            )
            for path in migration_files(directory):
                version = path.stem
                sql = path.read_text()
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        raise MigrationError(
                            f"migration {path.name} was changed after it was applied",
                            "add a new migration file instead of editing an applied one",
                        )
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "insert into schema_migrations (version, checksum) values (%s, %s)",
                        (version, checksum),
                    )
                log.info("applied migration %s", path.name)
                applied_now.append(version)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
