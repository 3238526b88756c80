"""A workflow that exercises workflows/saga.py alone, for its workflow tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from workflows.options import ActivityOptions
    from workflows.saga import Compensations, finished_unless

ONCE = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=2),
    retry_policy=RetryPolicy(maximum_attempts=1),
)


class SagaPlan(BaseModel):
    steps: list[str]  # registered in this order
    discard: list[str] = []  # steps known not to have happened
    in_flight: str = ""  # a step run with finished_unless before compensating


class SagaOutcome(BaseModel):
    in_flight_finished: bool | None = None
    undone: list[str] = []  # "<step>:<what the compensation did>", in the order they ran
    interruptions: int = 0  # compensation runs that an error interrupted


@activity.defn
async def undo(step: str) -> str:
    raise NotImplementedError  # scripted by the tests


@activity.defn
async def do(step: str) -> str:
    raise NotImplementedError  # scripted by the tests


@workflow.defn
class SagaProbeWorkflow:
    def __init__(self) -> None:
        self.interrupted = False

    @workflow.signal
    def interrupt(self) -> None:
        self.interrupted = True

    @workflow.run
    async def run(self, plan: SagaPlan) -> SagaOutcome:
        outcome = SagaOutcome()
        compensations = Compensations()
        registered = {
            step: compensations.register(step, f"undo {step}", self.undoing(step))
            for step in plan.steps
        }
        for step in plan.discard:
            compensations.discard(registered[step])
        if plan.in_flight:
            outcome.in_flight_finished = await finished_unless(
                ONCE.start(do, plan.in_flight), lambda: self.interrupted
            )
        while True:
            try:
                async for compensation, detail in compensations.run():
                    outcome.undone.append(f"{compensation.step}:{detail}")
                return outcome
            except Exception:
                outcome.interruptions += 1

    def undoing(self, step: str) -> Callable[[], Awaitable[str]]:
        async def compensation() -> str:
            return await ONCE.execute(undo, step)

        return compensation
