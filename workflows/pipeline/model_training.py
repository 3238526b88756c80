"""ModelTrainingWorkflow: one model version, trained as a Ray job, as a child of the feature
pipeline.

    run the training job under the version's submission id: a retried activity or a restarted
        worker attaches to the running Ray job (the Jobs API refuses a duplicate id)
    register the version in the registry, with its metrics and lineage
    cancelled: the Ray job is stopped, even when the worker that supervised it is gone
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.pipeline.models import (
        RegisterModel,
        StopEngineJob,
        TrainingRequest,
        TrainingResult,
    )
    from workflows.pipeline import activities as act
    from workflows.pipeline.engine_jobs import run_engine_job
    from workflows.pipeline.options import QUICK

REGISTER = QUICK.but(start_to_close_timeout=timedelta(minutes=1))


@workflow.defn(failure_exception_types=[ValidationError])
class ModelTrainingWorkflow:
    @workflow.run
    async def run(self, request: TrainingRequest) -> TrainingResult:
        result = await run_engine_job(
            act.run_training_job,
            request,
            StopEngineJob(engine="ray", submission_id=request.submission_id),
            attempts=2,
        )
        await REGISTER.execute(
            act.register_model_version, RegisterModel(request=request, result=result)
        )
        return result
