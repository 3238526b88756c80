"""Workflow tests: the real workflow code on Temporal's time-skipping test server, with the
activities replaced by a scripted backend that records every call (the activities themselves
are tested against PostgreSQL in tests/integration)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.toolchain import venv_tool
from domain.orders.models import (
    BusinessError,
    ClientContext,
    FraudDecision,
    OrderClosure,
    OrderItem,
    OrderRef,
    OrderRequest,
    PaymentMethod,
    PaymentRequest,
    ReservationRequest,
    Screening,
    ScreeningRequest,
    ShipmentRequest,
    ShippingAddress,
    StepOutcome,
)
from domain.orders.search_attributes import ALL as SEARCH_ATTRIBUTES
from workflows.orders.order_saga import OrderSagaWorkflow


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(venv_tool("temporal-test-server")),
    )
    await register_search_attributes(environment.client)
    yield environment
    await environment.shutdown()


async def register_search_attributes(client: Client) -> None:
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES},
        )
    )


@dataclass
class ScriptedBackend:
    """Activities with the real names, driven by a script: the fraud decision, which step fails
    (and how), which step blocks until released, how many transient errors come first."""

    decision: FraudDecision = FraudDecision.APPROVE
    fail_at: dict[str, BusinessError] = field(default_factory=dict)
    transient_failures: dict[str, int] = field(default_factory=dict)
    block_at: str | None = None
    calls: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
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

    def activities(self) -> list:
        @activity.defn(name="record_order")
        async def record_order(request: OrderRequest) -> StepOutcome:
            self._enter("record_order")
            return StepOutcome(applied=True)

        @activity.defn(name="screen_order")
        async def screen_order(request: ScreeningRequest) -> Screening:
            self._enter("screen_order")
            reasons = [] if self.decision is FraudDecision.APPROVE else ["scripted"]
            return Screening(decision=self.decision, reasons=reasons)

        def step(name: str, argument_type: type):
            async def run(argument) -> StepOutcome:  # type: ignore[no-untyped-def]
                self._enter(name)
                await self._maybe_block(name)
                return StepOutcome(applied=True, detail=name)

            run.__annotations__ = {"argument": argument_type, "return": StepOutcome}
            return activity.defn(name=name)(run)

        return [
            record_order,
            screen_order,
            step("reserve_stock", ReservationRequest),
            step("release_stock", OrderRef),
            step("authorize_payment", PaymentRequest),
            step("void_payment", PaymentRequest),
            step("check_shipping_zone", ShipmentRequest),
            step("create_shipment", ShipmentRequest),
            step("cancel_shipment", OrderRef),
            step("capture_payment", PaymentRequest),
            step("refund_payment", PaymentRequest),
            step("complete_order", OrderRef),
            step("close_order", OrderClosure),
        ]


@dataclass
class SagaHarness:
    env: WorkflowEnvironment
    backend: ScriptedBackend
    task_queue: str

    @property
    def client(self) -> Client:
        return self.env.client


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
async def saga(env: WorkflowEnvironment, backend: ScriptedBackend) -> AsyncIterator[SagaHarness]:
    task_queue = f"saga-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[OrderSagaWorkflow],
        activities=backend.activities(),
    ):
        yield SagaHarness(env=env, backend=backend, task_queue=task_queue)
        backend.release.set()


def an_order(order_id: str | None = None, **changes) -> OrderRequest:
    order = OrderRequest(
        order_id=order_id or f"ord-{uuid.uuid4().hex[:10]}",
        customer_id="cust-alice",
        payment=PaymentMethod(card_id="card_visa_4242"),
        items=[
            OrderItem(sku="SKU-HEADPHONES", quantity=1, unit_price=Decimal("249.00")),
            OrderItem(sku="SKU-CABLE-USBC", quantity=2, unit_price=Decimal("12.50")),
        ],
        currency="EUR",
        shipping_address=ShippingAddress(
            name="Alice Martin",
            line1="1 rue de Rivoli",
            city="Paris",
            postal_code="75001",
            country="FR",
        ),
        client=ClientContext(country="FR", ip="192.0.2.10", device_id="dev-alice-1"),
    )
    return order.model_copy(update=changes)
