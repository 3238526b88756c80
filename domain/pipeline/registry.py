"""The model registry in PostgreSQL: immutable versions, and per model name the champion /
challenger / previous aliases, which move only through recorded, idempotent changes that can be
rolled back.

Every alias change of a model takes the same advisory lock, so concurrent pipelines see each
other's changes whole."""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.settings import PROJECT_ROOT
from domain.pipeline.models import AliasChange, ModelVersion

# the programs whose code makes a model what it is: part of each version's lineage
LINEAGE_SOURCES = [
    PROJECT_ROOT / "jobs" / "spark" / "features.py",
    PROJECT_ROOT / "jobs" / "ray" / "train_fraud_model.py",
]


def code_version() -> str:
    digest = hashlib.sha256()
    for source in LINEAGE_SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


async def register_version(conn: AsyncConnection, version: ModelVersion) -> ModelVersion:
    """Insert the version with its lineage (the ETL runs' offsets); registering the same version
    again is a no-op."""
    async with conn.transaction():
        await conn.execute(
            "insert into model_versions (version_id, model_name, artifact_path, metrics,"
            " etl_run_ids, etl_offsets, code_version, training_job, evaluation)"
            " select %(version_id)s, %(model_name)s, %(artifact_path)s, %(metrics)s,"
            "  %(etl_run_ids)s, coalesce(jsonb_object_agg(run_id, offsets), '{}'),"
            "  %(code_version)s, %(training_job)s, %(evaluation)s"
            " from (select run_id, jsonb_object_agg(partition, jsonb_build_array(start_offset,"
            "   end_offset)) as offsets from etl_run_offsets where run_id = any(%(etl_run_ids)s)"
            "   group by run_id) lineage"
            " on conflict (version_id) do nothing",
            version.model_dump(mode="json")
            | {
                "metrics": Jsonb(version.metrics.model_dump()),
                "evaluation": (
                    Jsonb(version.evaluation.model_dump(mode="json"))
                    if version.evaluation
                    else None
                ),
            },
        )
    stored = await get_version(conn, version.version_id)
    if stored is None:  # inserted above, or there already: versions are never deleted
        raise RuntimeError(f"model version {version.version_id} is not in the registry")
    return stored


async def get_version(conn: AsyncConnection, version_id: str) -> ModelVersion | None:
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        "select version_id, model_name, artifact_path, metrics, etl_run_ids, code_version,"
        " training_job, evaluation from model_versions where version_id = %s",
        (version_id,),
    )
    row = await cursor.fetchone()
    return ModelVersion.model_validate(row) if row else None


async def aliases(conn: AsyncConnection, model_name: str) -> dict[str, str]:
    cursor = await conn.execute(
        "select alias, version_id from model_aliases where model_name = %s", (model_name,)
    )
    return dict(await cursor.fetchall())


async def version_for_alias(
    conn: AsyncConnection, model_name: str, alias: str
) -> ModelVersion | None:
    version_id = (await aliases(conn, model_name)).get(alias)
    return await get_version(conn, version_id) if version_id else None


async def move_aliases(
    conn: AsyncConnection, model_name: str, change_id: str, reason: str, updates: dict[str, str]
) -> AliasChange:
    """Point the aliases at new versions in one transaction. A change id already applied returns
    the recorded change instead of applying it twice."""
    async with conn.transaction():
        await _lock(conn, model_name)
        done = await _change(conn, change_id)
        if done is not None:
            return done
        before = await aliases(conn, model_name)
        after = before | updates
        await _set_aliases(conn, model_name, before, after)
        await conn.execute(
            "insert into model_alias_changes (change_id, model_name, reason, aliases_before,"
            " aliases_after) values (%s, %s, %s, %s, %s)",
            (change_id, model_name, reason, Jsonb(before), Jsonb(after)),
        )
        return AliasChange(change_id=change_id, model_name=model_name, before=before, after=after)


async def roll_back(conn: AsyncConnection, change_id: str) -> AliasChange | None:
    """Undo a recorded change: every alias it moved and that still points where the change left
    it goes back where it was. Idempotent; None when there was no such change."""
    async with conn.transaction():
        change = await _change(conn, change_id)
        if change is None:
            return None
        await _lock(conn, change.model_name)
        cursor = await conn.execute(
            "select rolled_back_at is not null from model_alias_changes where change_id = %s",
            (change_id,),
        )
        row: Any = await cursor.fetchone()
        if row[0]:
            return change
        current = await aliases(conn, change.model_name)
        restored = dict(current)
        for alias in set(change.before) | set(change.after):
            if current.get(alias) == change.after.get(alias):
                if alias in change.before:
                    restored[alias] = change.before[alias]
                else:
                    restored.pop(alias, None)
        await _set_aliases(conn, change.model_name, current, restored)
        await conn.execute(
            "update model_alias_changes set rolled_back_at = now() where change_id = %s",
            (change_id,),
        )
        return change


async def _lock(conn: AsyncConnection, model_name: str) -> None:
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('model-aliases:' || %s, 0))",
        (model_name,),
    )


async def _change(conn: AsyncConnection, change_id: str) -> AliasChange | None:
    cursor = await conn.execute(
        "select model_name, aliases_before, aliases_after from model_alias_changes"
        " where change_id = %s",
        (change_id,),
    )
    row: Any = await cursor.fetchone()
    if row is None:
        return None
    return AliasChange(change_id=change_id, model_name=row[0], before=row[1], after=row[2])


async def _set_aliases(
    conn: AsyncConnection, model_name: str, current: dict[str, str], target: dict[str, str]
) -> None:
    for alias in set(current) - set(target):
        await conn.execute(
            "delete from model_aliases where model_name = %s and alias = %s", (model_name, alias)
        )
    for alias, version_id in target.items():
        if current.get(alias) != version_id:
            await conn.execute(
                "insert into model_aliases (model_name, alias, version_id) values (%s, %s, %s)"
                " on conflict (model_name, alias) do update"
                " set version_id = excluded.version_id, updated_at = now()",
                (model_name, alias, version_id),
            )
