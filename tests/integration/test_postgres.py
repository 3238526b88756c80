"""PostgreSQL: migrations are applied once, recorded, and safe to re-run."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.db.migrate import MigrationError, apply_migrations, migration_files
from core.settings import Settings


@pytest.fixture
def scratch_dsn(stack, base_settings: Settings) -> Iterator[str]:
    name = f"migrate_test_{uuid.uuid4().hex[:8]}"
    admin = base_settings.postgres_dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield base_settings.postgres_dsn.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def test_project_migrations_are_applied_by_the_stack(stack, base_settings: Settings) -> None:
    with psycopg.connect(base_settings.postgres_dsn) as conn:
        versions = [v for (v,) in conn.execute("select version from schema_migrations")]
    assert versions == [p.stem for p in migration_files()]


def test_a_migration_applied_twice_is_a_no_op(scratch_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_create.sql").write_text("create table t (id int primary key);")
    (tmp_path / "0002_seed.sql").write_text("insert into t values (1), (2);")
    assert apply_migrations(scratch_dsn, tmp_path) == ["0001_create", "0002_seed"]
    assert apply_migrations(scratch_dsn, tmp_path) == []
    with psycopg.connect(scratch_dsn) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (2,)
        assert conn.execute("select count(*) from schema_migrations").fetchone() == (2,)


def test_a_new_migration_is_applied_alone(scratch_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_create.sql").write_text("create table t (id int primary key);")
    apply_migrations(scratch_dsn, tmp_path)
    (tmp_path / "0002_add.sql").write_text("alter table t add column name text;")
    assert apply_migrations(scratch_dsn, tmp_path) == ["0002_add"]


def test_a_failing_migration_leaves_nothing_behind(scratch_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_broken.sql").write_text("create table ok (id int); select 1/0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        apply_migrations(scratch_dsn, tmp_path)
    with psycopg.connect(scratch_dsn) as conn:
        assert conn.execute("select to_regclass('ok')").fetchone() == (None,)
        assert conn.execute("select count(*) from schema_migrations").fetchone() == (0,)


def test_editing_an_applied_migration_is_refused(scratch_dsn: str, tmp_path: Path) -> None:
    migration = tmp_path / "0001_create.sql"
    migration.write_text("create table t (id int);")
    apply_migrations(scratch_dsn, tmp_path)
    migration.write_text("create table t (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(scratch_dsn, tmp_path)
