"""NoopSagaWorkflow: the benchmark's baseline. The same shape as an approved order saga (the same
number of sequential activities with the same options) but every activity does nothing, so the
difference to the real saga is the cost of its business logic and PostgreSQL."""

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from workflows.orders.order_saga import STEP


@activity.defn
async def noop_step(step: int) -> int:
    """Does nothing: the baseline's every step, declared and implemented here."""
    return step


@workflow.defn(failure_exception_types=[ValidationError])
class NoopSagaWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await STEP.execute(noop_step, step)
        return steps
