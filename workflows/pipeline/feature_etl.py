"""FeatureEtlWorkflow: one feature ETL run, as a child of the feature pipeline.

plan the run: the Kafka offsets it reads, recorded in PostgreSQL (or the unfinished run a
    failed pipeline left, which is finished first)
run the Spark application under the run's submission id: a retried activity or a restarted
    worker attaches to the running application instead of starting a second one
cancelled: the application is stopped, even when the worker that supervised it is gone
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.pipeline.models import EtlResult, EtlRunRequest, StopEngineJob
    from workflows.pipeline import activities as act
    from workflows.pipeline.engine_jobs import run_engine_job
    from workflows.pipeline.options import QUICK


@workflow.defn(failure_exception_types=[ValidationError])
class FeatureEtlWorkflow:
    @workflow.run
    async def run(self, request: EtlRunRequest) -> EtlResult:
        plan = await QUICK.execute(act.plan_etl_run, request)
        workflow.logger.info("ETL run %s reads %d records", plan.run_id, plan.records)
        return await run_engine_job(
            act.run_etl_job,
            plan,
            StopEngineJob(engine="spark", submission_id=plan.submission_id),
            attempts=3,
        )
