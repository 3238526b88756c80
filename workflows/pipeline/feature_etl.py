"""FeatureEtlWorkflow: one feature ETL run, as a child of the feature pipeline.

plan the run: the Kafka offsets it reads, recorded in PostgreSQL (or the unfinished run a
    failed pipeline left, which is finished first)
run the Spark application under the run's submission id: a retried activity or a restarted
    worker attaches to the running application instead of starting a second one
cancelled: the application is stopped, even when the worker that supervised it is gone
failed for good (every attempt failed): the run is marked FAILED, so that the topic's next run
    plans afresh instead of adopting it
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.pipeline.models import EtlResult, EtlRunFailure, EtlRunRequest, StopEngineJob
    from workflows.cancellation import is_cancellation
    from workflows.pipeline import activities as act
    from workflows.pipeline.engine_jobs import run_engine_job
    from workflows.pipeline.options import QUICK


@workflow.defn(failure_exception_types=[ValidationError])
class FeatureEtlWorkflow:
    @workflow.run
    async def run(self, request: EtlRunRequest) -> EtlResult:
        plan = await QUICK.execute(act.plan_etl_run, request)
        workflow.logger.info("ETL run %s reads %d records", plan.run_id, plan.records)
        try:
            return await run_engine_job(
                act.run_etl_job,
                plan,
                StopEngineJob(engine="spark", submission_id=plan.submission_id),
                attempts=3,
            )
        except ActivityError as error:
            if not is_cancellation(error):
                # failed for good: the run must not block the topic's next one
                failure = EtlRunFailure(run_id=plan.run_id, reason=str(error.cause or error))
                await QUICK.execute(act.fail_etl_run, failure)
            raise
