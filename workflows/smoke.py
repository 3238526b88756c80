"""SmokeWorkflow: proves the worker, the pydantic data converter and PostgreSQL work together."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.smoke import SmokeActivities
    from domain.smoke import SmokeInput, SmokeRecord, SmokeResult


# Input that fails validation fails the workflow with pydantic's message (naming the field)
# instead of failing the workflow task and retrying it forever.
@workflow.defn(failure_exception_types=[ValidationError])
class SmokeWorkflow:
    @workflow.run
    async def run(self, request: SmokeInput) -> SmokeResult:
        workflow_id = workflow.info().workflow_id
        stored = await workflow.execute_activity_method(
            SmokeActivities.record_smoke_run,
            SmokeRecord(workflow_id=workflow_id, message=request.message),
            start_to_close_timeout=timedelta(seconds=10),
        )
        return SmokeResult(workflow_id=workflow_id, echo=request.message, stored=stored)
