"""SmokeWorkflow: proves the worker, the pydantic data converter and PostgreSQL work together."""

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.smoke import SmokeInput, SmokeRecord, SmokeResult, SmokeStored
    from workflows.options import ActivityOptions


@activity.defn
async def record_smoke_run(record: SmokeRecord) -> SmokeStored:
    """A PostgreSQL round trip, idempotent on the workflow id (activities/smoke.py)."""
    raise NotImplementedError


# Input that fails validation fails the workflow with pydantic's message (naming the field)
# instead of failing the workflow task and retrying it forever.
@workflow.defn(failure_exception_types=[ValidationError])
class SmokeWorkflow:
    @workflow.run
    async def run(self, request: SmokeInput) -> SmokeResult:
        workflow_id = workflow.info().workflow_id
        stored = await ActivityOptions(start_to_close_timeout=timedelta(seconds=10)).execute(
            record_smoke_run, SmokeRecord(workflow_id=workflow_id, message=request.message)
        )
        return SmokeResult(workflow_id=workflow_id, echo=request.message, stored=stored)
