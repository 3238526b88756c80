"""The feature pipeline's activities, scripted for workflow tests: a registry in memory, an ETL
and a training that succeed at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.contract import implements
from domain.pipeline.models import (
    AliasChange,
    AliasRef,
    EtlPlan,
    EtlResult,
    EtlRunFailure,
    EtlRunRequest,
    HoldoutMetrics,
    ModelVersion,
    MoveAliases,
    PartitionRange,
    RegisterModel,
    SmokeCheck,
    StopEngineJob,
    TrainingRequest,
    TrainingResult,
)
from workflows.pipeline import activities as declared

METRICS = HoldoutMetrics(
    pr_auc=0.9,
    precision=0.9,
    recall=0.9,
    precision_at_budget=0.9,
    recall_at_budget=0.9,
    alert_budget=0.02,
    rows=100,
    positives=10,
)


@dataclass
class ScriptedRegistry:
    """Aliases in memory, moved and rolled back as the registry does; `block_at` holds an
    activity until the test has cancelled the pipeline; `etl_fails` fails every ETL job."""

    aliases: dict[str, str] = field(default_factory=dict)
    changes: dict[str, AliasChange] = field(default_factory=dict)
    block_at: str | None = None
    etl_fails: bool = False  # the Spark job fails for good: a bad input no retry fixes
    failed_runs: list[EtlRunFailure] = field(default_factory=list)
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _maybe_block(self, name: str) -> None:
        if self.block_at == name:
            self.blocked.set()
            await self.release.wait()

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @implements(declared.plan_etl_run)
        async def plan_etl_run(request: EtlRunRequest) -> EtlPlan:
            return EtlPlan(
                run_id=request.run_id,
                topic=request.topic,
                ranges=[PartitionRange(partition=0, start_offset=0, end_offset=100)],
            )

        @implements(declared.run_etl_job)
        async def run_etl_job(plan: EtlPlan) -> EtlResult:
            if self.etl_fails:
                raise ApplicationError(
                    f"spark application features-{plan.run_id} failed", non_retryable=True
                )
            return EtlResult(run_id=plan.run_id, rows=100, output="/lake/run")

        @implements(declared.fail_etl_run)
        async def fail_etl_run(failure: EtlRunFailure) -> bool:
            self.failed_runs.append(failure)
            return True

        @implements(declared.feature_runs)
        async def feature_runs(topic: str) -> list[str]:
            return ["etl-1"]

        @implements(declared.model_for_alias)
        async def model_for_alias(ref: AliasRef) -> ModelVersion | None:
            return None

        @implements(declared.run_training_job)
        async def run_training_job(request: TrainingRequest) -> TrainingResult:
            return TrainingResult(
                version_id=request.version_id,
                artifact="/models/x",
                metrics=METRICS,
                baseline_pr_auc=0.1,
                best_params={"max_depth": 3},
                holdout_start=datetime(2026, 1, 1, tzinfo=UTC),
                training_seconds=1.0,
            )

        @implements(declared.register_model_version)
        async def register_model_version(model: RegisterModel) -> ModelVersion:
            return ModelVersion(
                version_id=model.request.version_id,
                model_name=model.request.model_name,
                artifact_path=model.result.artifact,
                metrics=model.result.metrics,
                etl_run_ids=model.request.etl_run_ids,
                code_version="test",
                training_job=model.request.submission_id,
            )

        @implements(declared.move_aliases)
        async def move_aliases(move: MoveAliases) -> AliasChange:
            if move.change_id.endswith(":promote"):
                await self._maybe_block("move_aliases")
            change = AliasChange(
                change_id=move.change_id,
                model_name=move.model_name,
                before={
                    alias: self.aliases[alias] for alias in move.updates if alias in self.aliases
                },
                after=move.updates,
            )
            self.changes.setdefault(move.change_id, change)
            self.aliases.update(move.updates)
            return change

        @implements(declared.smoke_check_champion)
        async def smoke_check_champion(check: SmokeCheck) -> float:
            await self._maybe_block("smoke_check_champion")
            return 0.9

        @implements(declared.roll_back_alias_change)
        async def roll_back_alias_change(change_id: str) -> AliasChange | None:
            change = self.changes.get(change_id)
            if change is None:
                return None
            for alias, version in change.after.items():
                if self.aliases.get(alias) == version:
                    if alias in change.before:
                        self.aliases[alias] = change.before[alias]
                    else:
                        del self.aliases[alias]
            return change

        @implements(declared.stop_engine_job)
        async def stop_engine_job(request: StopEngineJob) -> None:
            return None

        return [
            plan_etl_run,
            run_etl_job,
            fail_etl_run,
            feature_runs,
            model_for_alias,
            run_training_job,
            register_model_version,
            move_aliases,
            smoke_check_champion,
            roll_back_alias_change,
            stop_engine_job,
        ]
