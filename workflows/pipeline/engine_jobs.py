"""Running a Spark application or a Ray job from a workflow: the supervising activity, and on
cancellation the activity that makes sure the job stopped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from domain.pipeline.models import StopEngineJob
    from workflows.cancellation import is_cancellation
    from workflows.options import ActivityOptions
    from workflows.pipeline import activities as act

A = TypeVar("A")
R = TypeVar("R")

STOP = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=1),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)


async def run_engine_job(
    supervise: Callable[[A], Awaitable[R]], argument: A, job: StopEngineJob, attempts: int
) -> R:
    """`supervise` starts or attaches to the job and heartbeats until it ends; a cancellation
    reaches it within a heartbeat and it stops the job before it returns. The stop activity
    after it covers a supervising worker that died: nothing the workflow started keeps running.
    """
    supervising = ActivityOptions(
        start_to_close_timeout=timedelta(hours=2),
        heartbeat_timeout=timedelta(seconds=10),
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=attempts),
    )
    try:
        return await supervising.execute(supervise, argument)
    except BaseException as error:
        if is_cancellation(error):
            await STOP.execute(act.stop_engine_job, job)
        raise
