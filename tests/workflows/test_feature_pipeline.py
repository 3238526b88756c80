"""The feature pipeline's promotion under cancellation, on the time-skipping test server, with
scripted activities standing in for Spark, Ray and the registry (the real ones are exercised in
tests/integration/test_feature_pipeline.py, where a cancellation cannot be aimed this precisely).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contract import implements
from core.toolchain import venv_tool
from domain.pipeline.models import (
    AliasChange,
    AliasRef,
    EtlPlan,
    EtlResult,
    EtlRunRequest,
    HoldoutMetrics,
    ModelVersion,
    MoveAliases,
    PartitionRange,
    PipelineRequest,
    RegisterModel,
    SmokeCheck,
    StopEngineJob,
    TrainingRequest,
    TrainingResult,
)
from workflows.pipeline import activities as declared
from workflows.pipeline.feature_etl import FeatureEtlWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow
from workflows.pipeline.model_training import ModelTrainingWorkflow

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
    activity until the test has cancelled the pipeline."""

    aliases: dict[str, str] = field(default_factory=dict)
    changes: dict[str, AliasChange] = field(default_factory=dict)
    block_at: str | None = None
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _maybe_block(self, name: str) -> None:
        if self.block_at == name:
            self.blocked.set()
            await self.release.wait()

    def activities(self) -> list:
        @implements(declared.plan_etl_run)
        async def plan_etl_run(request: EtlRunRequest) -> EtlPlan:
            return EtlPlan(
                run_id=request.run_id,
                topic=request.topic,
                ranges=[PartitionRange(partition=0, start_offset=0, end_offset=100)],
            )

        @implements(declared.run_etl_job)
        async def run_etl_job(plan: EtlPlan) -> EtlResult:
            return EtlResult(run_id=plan.run_id, rows=100, output="/lake/run")

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
            feature_runs,
            model_for_alias,
            run_training_job,
            register_model_version,
            move_aliases,
            smoke_check_champion,
            roll_back_alias_change,
            stop_engine_job,
        ]


@pytest.fixture
async def pipeline_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of its own: a smoke check abandoned by a cancelled pipeline stays open on
    it, and an open activity would keep the shared server from skipping time for other tests."""
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(venv_tool("temporal-test-server")),
    )
    yield environment
    await environment.shutdown()


@pytest.fixture
async def registry(
    pipeline_env: WorkflowEnvironment,
) -> AsyncIterator[tuple[ScriptedRegistry, str]]:
    env = pipeline_env
    scripted = ScriptedRegistry()
    task_queue = f"pipeline-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[FeaturePipelineWorkflow, FeatureEtlWorkflow, ModelTrainingWorkflow],
        activities=scripted.activities(),
    ):
        yield scripted, task_queue
        scripted.release.set()


async def start(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    return await env.client.start_workflow(
        FeaturePipelineWorkflow.run,
        PipelineRequest(topic="transactions", model_name="card-fraud"),
        id=f"pipeline-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


@pytest.mark.parametrize("cancelled_during", ["move_aliases", "smoke_check_champion"])
async def test_a_cancelled_promotion_is_rolled_back_and_ends_cancelled(
    pipeline_env: WorkflowEnvironment,
    registry: tuple[ScriptedRegistry, str],
    cancelled_during: str,
) -> None:
    scripted, task_queue = registry
    scripted.block_at = cancelled_during
    handle = await start(pipeline_env, task_queue)
    await scripted.blocked.wait()
    await handle.cancel()
    if cancelled_during == "move_aliases":
        # the workflow waits for the move, not cancelled with it, then rolls it back
        scripted.release.set()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert "champion" not in scripted.aliases
    assert scripted.aliases.get("challenger", "").startswith("card-fraud-pipeline-")
    assert await handle.query(FeaturePipelineWorkflow.stage) == "ROLLED_BACK"
