"""Running a Spark application or a Ray job from a workflow: the supervising activity, and on
cancellation the activity that makes sure the job stopped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.cancellation import is_cancellation

with workflow.unsafe.imports_passed_through():
    from activities.pipeline.engine_jobs import EngineJobActivities, StopEngineJob


async def run_engine_job(supervise: Any, argument: Any, job: StopEngineJob, attempts: int) -> Any:
    """`supervise` starts or attaches to the job and heartbeats until it ends; a cancellation
    reaches it within a heartbeat and it stops the job before it returns. The stop activity
    after it covers a supervising worker that died: nothing the workflow started keeps running.
    """
    try:
        return await workflow.execute_activity_method(
            supervise,
            argument,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(seconds=10),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=5), maximum_attempts=attempts
            ),
        )
    except BaseException as error:
        if is_cancellation(error):
            await workflow.execute_activity_method(
                EngineJobActivities.stop_engine_job,
                job,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
        raise
