"""Running the feature pipeline from outside: once, or nightly from a Temporal Schedule that is
created, triggered, paused and deleted here (for the CLI and the demo)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.client import ScheduleOverlapPolicy as Overlap
from temporalio.service import RPCError, RPCStatusCode

from core.errors import MissingPrerequisite
from core.settings import Settings
from core.temporal import connect, require_worker
from domain.pipeline.models import PipelineRequest, PipelineResult
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

NIGHTLY = "0 2 * * *"  # 02:00 UTC


async def start_pipeline(
    settings: Settings, request: PipelineRequest
) -> WorkflowHandle[FeaturePipelineWorkflow, PipelineResult]:
    client = await connect(settings)
    await require_worker(client, settings.pipeline_task_queue)
    return await client.start_workflow(
        FeaturePipelineWorkflow.run,
        request,
        id=f"feature-pipeline-{time.strftime('%Y%m%d-%H%M%S')}",
        task_queue=settings.pipeline_task_queue,
    )


def _schedule(settings: Settings, request: PipelineRequest, cron: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FeaturePipelineWorkflow.run,
            request,
            id=settings.pipeline_schedule_id,  # Temporal appends the scheduled time
            task_queue=settings.pipeline_task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        # a night whose pipeline still runs is skipped, never run twice over the same offsets
        policy=SchedulePolicy(overlap=Overlap.SKIP, catchup_window=timedelta(hours=1)),
    )


async def create_schedule(
    settings: Settings, request: PipelineRequest, cron: str = NIGHTLY
) -> tuple[ScheduleHandle, bool]:
    """Create the schedule, or update it to this spec and input; True when it was created."""
    client = await connect(settings)
    schedule = _schedule(settings, request, cron)
    try:
        return await client.create_schedule(settings.pipeline_schedule_id, schedule), True
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(settings.pipeline_schedule_id)

        def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle, False


async def schedule_handle(settings: Settings) -> ScheduleHandle:
    client: Client = await connect(settings)
    return client.get_schedule_handle(settings.pipeline_schedule_id)


async def on_schedule(
    settings: Settings, operation: Callable[[ScheduleHandle], Awaitable[Any]]
) -> ScheduleHandle:
    """Run `operation` on the schedule; a schedule that does not exist says how to create it."""
    handle = await schedule_handle(settings)
    try:
        await operation(handle)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        raise MissingPrerequisite(
            f"there is no schedule {handle.id}",
            "create it with `./hybrid pipeline schedule create`",
        ) from exc
    return handle


async def describe_schedule(settings: Settings) -> ScheduleDescription:
    descriptions: list[ScheduleDescription] = []

    async def describe(handle: ScheduleHandle) -> None:
        descriptions.append(await handle.describe())

    await on_schedule(settings, describe)
    return descriptions[0]
