"""FraudMonitorWorkflow: owns the Flink CEP job on the session cluster.

    submit the job (or attach to the running job of the same deterministic name)
    watch it through a heartbeating activity: state, checkpoints, records in/out
    when it fails: restart it, with exponential backoff
    after each watch period: continue as new, carrying the job id (bounded history)
    when the workflow is cancelled: cancel the Flink job, by id and by name (a submission in
        flight is waited for: its job's id is not known yet), then end cancelled

Query `state`: the job id, its state, the thresholds, the restart count and the last progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

from workflows.cancellation import is_cancellation

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.fraud.flink_jobs import FlinkJobActivities
    from domain.fraud.monitor import (
        CancelJob,
        CepThresholds,
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
        self.savepoint = request.savepoint
        self.new_thresholds: CepThresholds | None = None
        self.switches = 0
        self.watch: Any = None

    @workflow.run
    async def run(self, request: MonitorRequest) -> None:
        try:
            while True:
                handle = await workflow.execute_activity_method(
                    FlinkJobActivities.submit_job,
                    SubmitJob(
                        job_name=request.job_name,
                        script=CEP_SCRIPT,
                        arguments=self.job_arguments(),
                        savepoint=self.savepoint,
                    ),
                    start_to_close_timeout=timedelta(minutes=3),
                    retry_policy=RETRY,
                    # a cancellation waits for the submission to end, so that the job it may
                    # have started is there to be cancelled by name below
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
                self.job_id, self.job_state, self.savepoint = handle.job_id, "RUNNING", None
                if workflow.cancellation_reason() is not None:
                    # cancelled while submitting: the submission completed, its job must stop
                    raise asyncio.CancelledError()
                self.watch = watch = workflow.start_activity_method(
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
                await workflow.wait_condition(
                    lambda watch=watch: watch.done() or self.new_thresholds is not None
                )
                if not watch.done():
                    await self.switch_thresholds(watch)
                    continue
                self.progress = await watch
                self.job_state = self.progress.state
                if self.progress.state not in ("FAILED", "CANCELED", "FINISHED"):
                    workflow.continue_as_new(
                        self.request.model_copy(
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
            if not is_cancellation(error):
                raise
            if self.watch is not None and not self.watch.done():
                self.watch.cancel()
            # shielded: the workflow is being cancelled, the Flink job must still stop
            self.job_state = await asyncio.shield(
                asyncio.ensure_future(
                    workflow.execute_activity_method(
                        FlinkJobActivities.cancel_job,
                        CancelJob(job_name=request.job_name, job_id=self.job_id),
                        start_to_close_timeout=timedelta(minutes=2),
                        heartbeat_timeout=timedelta(seconds=10),
                        retry_policy=RETRY,
                    )
                )
            )
            raise

    @workflow.update
    async def update_thresholds(self, thresholds: CepThresholds) -> MonitorView:
        """Stop the job with a savepoint and restart it from there with new thresholds: the
        restored offsets and CEP state mean no alert is lost, and the savepoint flushes the
        sink so none is sent twice. The fields given replace the current ones; fields left out
        of the input keep their current values (a client that sends a whole CepThresholds
        replaces them all)."""
        switches = self.switches
        given = thresholds.model_dump(include=thresholds.model_fields_set)
        self.new_thresholds = self.request.thresholds.model_copy(update=given)
        await workflow.wait_condition(
            lambda: self.switches > switches and self.job_state == "RUNNING"
        )
        return self.state()

    @update_thresholds.validator
    def validate_thresholds(self, thresholds: CepThresholds) -> None:
        if self.new_thresholds is not None:
            raise ValueError("a change of thresholds is already in progress")
        if self.job_state != "RUNNING":
            raise ValueError(f"the CEP job is {self.job_state}: retry once it runs")

    async def switch_thresholds(self, watch: Any) -> None:
        watch.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):
            await watch
        assert self.job_id is not None
        assert self.new_thresholds is not None
        self.job_state = "SAVEPOINTING"
        self.savepoint = await workflow.execute_activity_method(
            FlinkJobActivities.stop_with_savepoint,
            StopJob(job_id=self.job_id, with_savepoint=True),
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )
        self.request = self.request.model_copy(update={"thresholds": self.new_thresholds})
        self.new_thresholds = None
        self.switches += 1

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
