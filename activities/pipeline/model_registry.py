"""The model registry's activities: register a version, move aliases, roll a move back, and the
smoke check that the champion the registry now names loads and scores as expected."""

from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool
from sklearn.metrics import average_precision_score
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from domain.pipeline import registry
from domain.pipeline.models import (
    AliasChange,
    AliasRef,
    ModelVersion,
    MoveAliases,
    RegisterModel,
    SmokeCheck,
)
from domain.pipeline.scoring import feature_rows, fraud_scores, load_model
from workflows.pipeline import activities as declared


class RegistryActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @implements(declared.register_model_version)
    async def register_model_version(self, model: RegisterModel) -> ModelVersion:
        version = ModelVersion(
            version_id=model.result.version_id,
            model_name=model.request.model_name,
            artifact_path=model.result.artifact,
            metrics=model.result.metrics,
            etl_run_ids=model.request.etl_run_ids,
            code_version=await asyncio.to_thread(registry.code_version),
            training_job=model.request.submission_id,
            evaluation=model.result.evaluation,
        )
        async with self.pool.connection() as conn:
            return await registry.register_version(conn, version)

    @implements(declared.model_for_alias)
    async def model_for_alias(self, ref: AliasRef) -> ModelVersion | None:
        async with self.pool.connection() as conn:
            return await registry.version_for_alias(conn, ref.model_name, ref.alias)

    @implements(declared.move_aliases)
    async def move_aliases(self, move: MoveAliases) -> AliasChange:
        async with self.pool.connection() as conn:
            return await registry.move_aliases(
                conn, move.model_name, move.change_id, move.reason, move.updates
            )

    @implements(declared.roll_back_alias_change)
    async def roll_back_alias_change(self, change_id: str) -> AliasChange | None:
        async with self.pool.connection() as conn:
            return await registry.roll_back(conn, change_id)

    @implements(declared.smoke_check_champion)
    async def smoke_check_champion(self, check: SmokeCheck) -> float:
        """Load the champion through the registry, as the order saga will, and score the
        holdout with it; returns its PR-AUC."""
        async with self.pool.connection() as conn:
            champion = await registry.version_for_alias(conn, check.model_name, "champion")
            cursor = await conn.execute(
                "select output_path from etl_runs where run_id = any(%s) order by planned_at",
                (check.etl_run_ids,),
            )
            outputs = [path for (path,) in await cursor.fetchall()]
        if champion is None or champion.version_id != check.expected_champion:
            raise ApplicationError(
                f"the registry's champion is {champion and champion.version_id}, "
                f"not {check.expected_champion}",
                type="SmokeCheckFailed",
                non_retryable=True,
            )
        artifact = await asyncio.to_thread(load_model, champion.version_id, champion.artifact_path)
        rows = await asyncio.to_thread(feature_rows, outputs, check.holdout_start)
        scores = await asyncio.to_thread(fraud_scores, artifact, rows)
        pr_auc = float(average_precision_score(rows["is_fraud"], scores))
        if pr_auc < check.min_pr_auc:
            raise ApplicationError(
                f"champion {champion.version_id} scores PR-AUC {pr_auc:.3f} on the holdout, "
                f"below the smoke check's {check.min_pr_auc}",
                type="SmokeCheckFailed",
                non_retryable=True,
            )
        return pr_auc
