"""Supervising a Spark application or a Ray job from an activity: start or attach under the
job's deterministic submission id, heartbeat its progress and last log line, stop it when the
activity is cancelled, and keep its outcome and log in PostgreSQL."""

from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from core.engines.lifecycle import (
    EngineJob,
    failure_excerpt,
    log_tail,
    progress_line,
    summary_line,
)
from core.engines.ray_jobs import RayJob
from core.engines.spark import SparkApplication
from core.observability import count_job_state
from core.settings import Settings
from domain.pipeline.models import StopEngineJob
from workflows.pipeline import activities as declared


async def supervise(job: EngineJob, pool: AsyncConnectionPool, poll_s: float = 2.0) -> str:
    """Run the job to its end; returns its JSON summary line. A failed job raises a retryable
    error: the next attempt starts it afresh under the same id."""
    attached = await asyncio.to_thread(job.start_or_attach)
    activity.logger.info(
        "%s %s %s", "attached to" if attached else "started", job.engine, job.submission_id
    )
    await _record(pool, job, "RUNNING")
    try:
        while (state := await asyncio.to_thread(job.poll)) == "RUNNING":
            lines = (await asyncio.to_thread(job.logs)).strip().splitlines()
            activity.heartbeat(
                {
                    "submission_id": job.submission_id,
                    "attached": attached,
                    "log_lines": len(lines),
                    "last_line": progress_line(lines)[-300:],
                }
            )
            await asyncio.sleep(poll_s)
    except asyncio.CancelledError:
        # Only a cancellation the workflow asked for stops the job. A worker shutting down, or
        # an attempt that timed out, leaves it running for the next attempt to attach to.
        details = activity.cancellation_details()
        if details is not None and details.cancel_requested:
            activity.logger.info("cancelled: stopping %s %s", job.engine, job.submission_id)
            await asyncio.to_thread(job.stop)
            await _record(pool, job, "STOPPED", await asyncio.to_thread(job.logs))
        raise
    logs = await asyncio.to_thread(job.logs)
    await _record(pool, job, state, logs)
    if state != "SUCCEEDED":
        raise ApplicationError(
            f"{job.engine} job {job.submission_id} {state.lower()}:\n{failure_excerpt(logs)}",
            type="EngineJobFailed",
        )
    return summary_line(logs)


async def _record(
    pool: AsyncConnectionPool, job: EngineJob, status: str, logs: str | None = None
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "insert into engine_jobs (submission_id, engine, workflow_id, status, log_tail,"
            " finished_at) values (%(id)s, %(engine)s, %(workflow)s, %(status)s,"
            " coalesce(%(log)s, ''), case when %(status)s = 'RUNNING' then null else now() end)"
            " on conflict (submission_id) do update set status = excluded.status,"
            " log_tail = case when %(log)s is null then engine_jobs.log_tail"
            "   else excluded.log_tail end,"
            " finished_at = excluded.finished_at",
            {
                "id": job.submission_id,
                "engine": job.engine,
                "workflow": activity.info().workflow_id,
                "status": status,
                "log": None if logs is None else log_tail(logs),
            },
        )
    count_job_state(job.engine, status)


class EngineJobActivities:
    def __init__(self, settings: Settings, pool: AsyncConnectionPool):
        self.settings = settings
        self.pool = pool

    @implements(declared.stop_engine_job)
    async def stop_engine_job(self, request: StopEngineJob) -> None:
        """Stop a job whose supervising activity may have died with its worker: the cleanup a
        cancelled workflow runs so that nothing it started keeps running."""
        job: EngineJob = (
            RayJob(self.settings, request.submission_id, entrypoint="")
            if request.engine == "ray"
            else SparkApplication(self.settings, request.submission_id, command=[])
        )  # neither touches the engine until polled, in a thread
        if await asyncio.to_thread(job.poll) == "RUNNING":
            await asyncio.to_thread(job.stop)
            await _record(self.pool, job, "STOPPED", await asyncio.to_thread(job.logs))
