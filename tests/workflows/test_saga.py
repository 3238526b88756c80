"""workflows/saga.py on the time-skipping test server, through a workflow of its own
(tests/workflows/saga_probe.py) and scripted activities."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contract import implements
from tests.workflows import saga_probe
from tests.workflows.saga_probe import SagaOutcome, SagaPlan, SagaProbeWorkflow


class Scripted:
    def __init__(self, failing_once: set[str] | None = None):
        self.failing_once = failing_once or set()
        self.undo_calls: Counter[str] = Counter()
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    def activities(self) -> list:
        @implements(saga_probe.undo)
        async def undo(step: str) -> str:
            self.undo_calls[step] += 1
            if step in self.failing_once and self.undo_calls[step] == 1:
                raise RuntimeError(f"undo {step}: connection reset")
            return f"undone #{self.undo_calls[step]}"

        @implements(saga_probe.do)
        async def do(step: str) -> str:
            self.started.set()
            if step == "quick":
                return "done"
            try:
                while True:
                    activity.heartbeat()
                    await asyncio.sleep(0.1)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise

        return [undo, do]


async def run(env: WorkflowEnvironment, scripted: Scripted, plan: SagaPlan) -> SagaOutcome:
    queue = f"saga-probe-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[SagaProbeWorkflow],
        activities=scripted.activities(),
    ):
        handle = await env.client.start_workflow(
            SagaProbeWorkflow.run, plan, id=queue, task_queue=queue
        )
        if plan.in_flight == "blocking":
            await scripted.started.wait()
            await handle.signal(SagaProbeWorkflow.interrupt)
        return await handle.result()


async def test_compensations_run_newest_first_once_each(env: WorkflowEnvironment) -> None:
    scripted = Scripted()
    outcome = await run(env, scripted, SagaPlan(steps=["reserve", "authorize", "ship"]))
    assert outcome.undone == ["ship:undone #1", "authorize:undone #1", "reserve:undone #1"]
    assert scripted.undo_calls == Counter(reserve=1, authorize=1, ship=1)


async def test_a_discarded_compensation_does_not_run(env: WorkflowEnvironment) -> None:
    scripted = Scripted()
    outcome = await run(
        env, scripted, SagaPlan(steps=["reserve", "authorize", "ship"], discard=["ship"])
    )
    assert outcome.undone == ["authorize:undone #1", "reserve:undone #1"]
    assert "ship" not in scripted.undo_calls


async def test_an_interrupted_compensation_stays_pending_and_runs_again(
    env: WorkflowEnvironment,
) -> None:
    scripted = Scripted(failing_once={"authorize"})
    outcome = await run(env, scripted, SagaPlan(steps=["reserve", "authorize", "ship"]))
    assert outcome.interruptions == 1
    # ship was done before the interruption and is not run again; authorize is
    assert outcome.undone == ["ship:undone #1", "authorize:undone #2", "reserve:undone #1"]
    assert scripted.undo_calls == Counter(reserve=1, authorize=2, ship=1)


async def test_a_step_interrupted_in_flight_is_cancelled_and_abandoned(
    env: WorkflowEnvironment,
) -> None:
    scripted = Scripted()
    outcome = await run(env, scripted, SagaPlan(steps=["reserve"], in_flight="blocking"))
    assert outcome.in_flight_finished is False
    await asyncio.wait_for(scripted.cancelled.wait(), 10)
    assert outcome.undone == ["reserve:undone #1"]


async def test_a_step_that_finishes_is_reported_finished(env: WorkflowEnvironment) -> None:
    outcome = await run(env, Scripted(), SagaPlan(steps=["reserve"], in_flight="quick"))
    assert outcome.in_flight_finished is True
