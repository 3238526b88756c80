"""The order saga's activities, scripted for workflow tests: the declared names and payloads
(`implements` checks them), a fraud decision, failures, retries and a step that blocks until the
test releases it. Every call is recorded."""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.contract import implements
from domain.orders.examples import an_order
from domain.orders.models import (
    BusinessError,
    FraudDecision,
    OrderRef,
    OrderRequest,
    OrderStatus,
    RecordedOrder,
    RecordedState,
    Screening,
    ScreeningRequest,
    StepOutcome,
)
from worker.registrations import declared_activities
from workflows.orders import activities as declared
from workflows.orders.order_saga import OrderSagaWorkflow


@dataclass
class ScriptedBackend:
    decision: FraudDecision = FraudDecision.APPROVE
    fail_at: dict[str, BusinessError] = field(default_factory=dict)
    transient_failures: dict[str, int] = field(default_factory=dict)
    block_at: str | None = None
    calls: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    recorded: RecordedOrder | None = None  # what record_order finds already there
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def _enter(self, name: str) -> None:
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if self.attempts[name] <= self.transient_failures.get(name, 0):
            raise RuntimeError(f"{name}: database connection reset")
        self.calls.append(name)
        if name in self.fail_at:
            kind = self.fail_at[name]
            raise ApplicationError(f"scripted {kind.value}", type=kind.value, non_retryable=True)

    async def _maybe_block(self, name: str) -> None:
        if self.block_at == name:
            self.blocked.set()
            await self.release.wait()

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @implements(declared.record_order)
        async def record_order(request: OrderRequest) -> RecordedOrder:
            self._enter("record_order")
            return self.recorded or RecordedOrder(applied=True)

        @implements(declared.screen_order)
        async def screen_order(request: ScreeningRequest) -> Screening:
            self._enter("screen_order")
            reasons = [] if self.decision is FraudDecision.APPROVE else ["scripted"]
            return Screening(decision=self.decision, reasons=reasons)

        def step(activity: Callable[..., Awaitable[StepOutcome]]) -> Callable[..., Any]:
            name = activity.__name__

            async def run(argument: Any) -> StepOutcome:
                self._enter(name)
                await self._maybe_block(name)
                return StepOutcome(applied=True, detail=name)

            hints = typing.get_type_hints(activity)
            [parameter] = inspect.signature(activity).parameters
            run.__annotations__ = {"argument": hints[parameter], "return": hints["return"]}
            return implements(activity)(run)

        @implements(declared.recorded_state)
        async def recorded_state(order: OrderRef) -> RecordedState:
            self._enter("recorded_state")
            return RecordedState(
                order_id=order.order_id,
                status=OrderStatus.PENDING,
                card_id="card_visa_4242",
                total=Decimal("10.00"),
                currency="EUR",
            )

        special = {"record_order", "screen_order", "recorded_state"}
        plain = set(declared_activities(declared)) - special
        steps = [step(getattr(declared, name)) for name in sorted(plain)]
        return [record_order, screen_order, recorded_state, *steps]


@dataclass
class SagaHarness:
    env: WorkflowEnvironment
    backend: ScriptedBackend
    task_queue: str

    @property
    def client(self) -> Client:
        return self.env.client


async def start(saga: SagaHarness, **changes: Any) -> WorkflowHandle[Any, Any]:
    """An order saga of `an_order(**changes)`, started under the order's id."""
    order = an_order(**changes)
    return await saga.client.start_workflow(
        OrderSagaWorkflow.run, order, id=order.order_id, task_queue=saga.task_queue
    )


async def wait_until_status(handle: WorkflowHandle[Any, Any], status: OrderStatus) -> None:
    for _ in range(200):
        view = await handle.query(OrderSagaWorkflow.status_view)
        if view.status is status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {status}")
