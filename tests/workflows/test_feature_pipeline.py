"""The feature pipeline's promotion under cancellation, and an ETL run that fails for good, on
the time-skipping test server, with scripted activities standing in for Spark, Ray and the
registry (the real ones are exercised in tests/integration/test_feature_pipeline.py, where a
cancellation cannot be aimed this precisely)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.temporal import DATA_CONVERTER
from core.toolchain import venv_tool
from domain.pipeline.models import EtlRunRequest, PipelineRequest
from tests.support.scripted_pipeline import ScriptedRegistry
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.pipeline.feature_etl import FeatureEtlWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow
from workflows.pipeline.model_training import ModelTrainingWorkflow


@pytest.fixture
async def pipeline_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of its own: a smoke check abandoned by a cancelled pipeline stays open on
    it, and an open activity would keep the shared server from skipping time for other tests."""
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
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
        interceptors=WORKFLOW_INTERCEPTORS,
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


async def test_an_etl_run_that_fails_for_good_is_marked_failed(
    pipeline_env: WorkflowEnvironment, registry: tuple[ScriptedRegistry, str]
) -> None:
    """A run that failed for a reason no retry fixes stayed PLANNED, and every later ETL of
    its topic adopted it and failed the same way."""
    scripted, task_queue = registry
    scripted.etl_fails = True
    with pytest.raises(WorkflowFailureError):
        await pipeline_env.client.execute_workflow(
            FeatureEtlWorkflow.run,
            EtlRunRequest(topic="transactions", run_id="etl-doomed"),
            id=f"etl-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
    [failure] = scripted.failed_runs
    assert failure.run_id == "etl-doomed"
    assert "features-etl-doomed failed" in failure.reason
