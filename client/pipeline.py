"""Running the feature pipeline from the command line: once, or nightly from a Temporal Schedule
that the CLI creates, triggers, pauses and deletes."""

from __future__ import annotations

import time
from datetime import timedelta

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

from core.settings import Settings
from core.temporal import connect
from domain.pipeline.models import PipelineRequest
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

NIGHTLY = "0 2 * * *"  # 02:00 UTC


async def start_pipeline(settings: Settings, request: PipelineRequest) -> WorkflowHandle:
    client = await connect(settings)
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


async def describe_schedule(settings: Settings) -> ScheduleDescription:
    return await (await schedule_handle(settings)).describe()
