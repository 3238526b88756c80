"""FraudMonitorWorkflow: owns the Flink CEP job on the session cluster.

    submit the job (or attach to the running job of the same deterministic name)
    watch it through a heartbeating activity: state, checkpoints, records in/out
    when it fails: restart it, with exponential backoff
    after each watch period: continue as new, carrying the job id (bounded history)
    when the workflow is cancelled: cancel the Flink job, then end cancelled

Query `state`: the job id, its state, the thresholds, the restart count and the last progress.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.flink_jobs import FlinkJobActivities
    from app.models.fraud import (
        JobProgress,
        MonitorRequest,
        MonitorView,
        StopJob,
        SubmitJob,
        WatchJob,
    )

CEP_SCRIPT = "jobs/flink/fraud_cep.py"
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(failure_exception_types=[ValidationError])
class FraudMonitorWorkflow:
    @workflow.init
    def __init__(self, request: MonitorRequest) -> None:
        self.request = request
        self.job_id = request.job_id
        self.job_state = "SUBMITTING"
        self.restarts = request.restarts
        self.progress: JobProgress | None = None

    @workflow.run
    async def run(self, request: MonitorRequest) -> None:
        try:
            while True:
                handle = await workflow.execute_activity_method(
                    FlinkJobActivities.submit_job,
                    SubmitJob(
                        job_name=request.job_name, script=CEP_SCRIPT, arguments=self.job_arguments()
                    ),
                    start_to_close_timeout=timedelta(minutes=3),
                    retry_policy=RETRY,
                )
                self.job_id, self.job_state = handle.job_id, "RUNNING"
                self.progress = await workflow.execute_activity_method(
                    FlinkJobActivities.watch_job,
                    WatchJob(
                        job_id=handle.job_id,
                        poll_interval=request.poll_interval,
                        watch_period=request.watch_period,
                    ),
                    start_to_close_timeout=request.watch_period + timedelta(minutes=5),
                    heartbeat_timeout=timedelta(seconds=30),
                    retry_policy=RETRY,
                )
                self.job_state = self.progress.state
                if self.progress.state not in ("FAILED", "CANCELED", "FINISHED"):
                    workflow.continue_as_new(
                        request.model_copy(
                            update={"job_id": self.job_id, "restarts": self.restarts}
                        )
                    )
                self.restarts += 1
                backoff = min(
                    timedelta(seconds=2 ** min(self.restarts, 10)), request.max_restart_backoff
                )
                workflow.logger.warning(
                    "Flink job %s is %s: restart %d in %s",
                    self.job_id,
                    self.progress.state,
                    self.restarts,
                    backoff,
                )
                await workflow.sleep(backoff)
        except (asyncio.CancelledError, ActivityError) as error:
            cancelled = isinstance(error, asyncio.CancelledError) or isinstance(
                error.cause, CancelledError
            )
            if not cancelled:
                raise
            if self.job_id is not None:
                # shielded: the workflow is being cancelled, the Flink job must still stop
                self.job_state = await asyncio.shield(
                    asyncio.ensure_future(
                        workflow.execute_activity_method(
                            FlinkJobActivities.cancel_job,
                            StopJob(job_id=self.job_id),
                            start_to_close_timeout=timedelta(minutes=2),
                            heartbeat_timeout=timedelta(seconds=10),
                            retry_policy=RETRY,
                        )
                    )
                )
            raise

    @workflow.query(name="state")
    def state(self) -> MonitorView:
        return MonitorView(
            job_name=self.request.job_name,
            job_id=self.job_id,
            state=self.job_state,
            thresholds=self.request.thresholds,
            restarts=self.restarts,
            progress=self.progress,
        )

    def job_arguments(self) -> list[str]:
        request = self.request
        return [
            "--job-name",
            request.job_name,
            "--source-topic",
            request.source_topic,
            "--alerts-topic",
            request.alerts_topic,
            "--dead-letter-topic",
            request.dead_letter_topic,
            "--startup-mode",
            request.startup_mode,
            *request.thresholds.arguments(),
        ]
