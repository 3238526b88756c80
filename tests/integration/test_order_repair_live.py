"""An order's saga started twice, and an order whose saga ended without closing it, on the real
stack: Temporal's answer must agree with what PostgreSQL recorded, and an operator must be able
to find and close what no saga will (`./hybrid orders check|repair`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.orders.inventory import InventoryActivities
from activities.orders.order import OrderActivities
from activities.orders.payments import PaymentActivities
from activities.orders.shipping import ShippingActivities
from client.orders import repair_order, stuck_orders
from core.db.connections import open_pool
from core.errors import InvalidInput, ServiceUnavailable
from core.settings import Settings
from domain.orders.examples import an_order
from domain.orders.invariants import check_order_invariants
from domain.orders.models import (
    OrderStatus,
    PaymentRequest,
    ReservationRequest,
    ShipmentRequest,
)
from domain.orders.payment_provider import SimulatedPaymentProvider
from domain.orders.search_attributes import ORDER_STATUS
from tests.support.orders import new_sku, provider_operations, stock
from workflows.orders.order_saga import OrderSagaWorkflow

pytestmark = pytest.mark.usefixtures("seeded", "worker")


def recorded_status(dsn: str, order_id: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select status from orders where order_id = %s", (order_id,))
        return row.fetchone()[0]  # type: ignore[index]


async def test_a_second_start_of_a_completed_order_returns_what_postgres_recorded(
    client: Client, settings: Settings
) -> None:
    dsn = settings.postgres_dsn
    sku = new_sku(dsn, on_hand=5)
    order = an_order({sku: 1})
    queue = settings.order_task_queue
    first = await client.execute_workflow(
        OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue
    )

    # the default id-reuse policy lets a closed workflow's id start a new run
    again = await asyncio.wait_for(
        client.execute_workflow(OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue),
        60,
    )

    assert (first.status, again.status) == (OrderStatus.COMPLETED, OrderStatus.COMPLETED)
    assert again.compensations == []
    assert provider_operations(dsn, order.order_id) == [
        ("authorize", "approved"),
        ("capture", "approved"),
    ]
    assert stock(dsn, sku) == (4, 0)
    described = await client.get_workflow_handle(order.order_id).describe()
    assert described.typed_search_attributes.get(ORDER_STATUS) == OrderStatus.COMPLETED.value
    assert check_order_invariants(dsn, [order.order_id]) == []


async def test_a_terminated_saga_leaves_a_stuck_order_that_a_repair_closes(
    client: Client, settings: Settings
) -> None:
    dsn = settings.postgres_dsn
    order = an_order({new_sku(dsn): 1}, country="US")  # shipped away from home: in review
    queue = settings.order_task_queue
    handle = await client.start_workflow(
        OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue
    )
    for _ in range(200):
        if (
            await handle.query(OrderSagaWorkflow.status_view)
        ).status is OrderStatus.AWAITING_REVIEW:
            break
        await asyncio.sleep(0.05)

    with pytest.raises(WorkflowAlreadyStartedError):  # a live run owns the order
        await client.start_workflow(
            OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue
        )
    with pytest.raises(InvalidInput, match="is running"):  # and the repair leaves it alone
        await repair_order(settings, order.order_id, "too early")

    await handle.terminate("an operator's mistake")
    assert (await handle.describe()).status is WorkflowExecutionStatus.TERMINATED
    assert recorded_status(dsn, order.order_id) == "PENDING"
    assert order.order_id in await stuck_orders(settings, quiet_for=timedelta(0))

    outcomes = await repair_order(settings, order.order_id, "terminated by mistake")

    assert outcomes[-1].detail == "order CANCELLED"
    assert recorded_status(dsn, order.order_id) == "CANCELLED"
    assert order.order_id not in await stuck_orders(settings, quiet_for=timedelta(0))
    again = await repair_order(settings, order.order_id, "once more")
    assert [outcome.detail for outcome in again] == ["order already CANCELLED"]
    assert check_order_invariants(dsn, [order.order_id]) == []


async def test_a_repair_undoes_a_charge_a_shipment_and_a_reservation(
    client: Client, settings: Settings
) -> None:
    """What a saga terminated just after the capture leaves: the money taken, the parcel booked,
    the stock held."""
    dsn = settings.postgres_dsn
    sku = new_sku(dsn, on_hand=5)
    order = an_order({sku: 2})
    payment = PaymentRequest(
        order_id=order.order_id,
        card_id=order.payment.card_id,
        amount=order.total,
        currency=order.currency,
    )
    pool = await open_pool(settings, max_size=2)
    try:
        await OrderActivities(pool).record_order(order)
        await InventoryActivities(pool).reserve_stock(
            ReservationRequest(order_id=order.order_id, items=order.items)
        )
        payments = PaymentActivities(pool, SimulatedPaymentProvider(pool))
        await payments.authorize_payment(payment)
        await ShippingActivities(pool).create_shipment(
            ShipmentRequest(
                order_id=order.order_id, address=order.shipping_address, items=order.items
            )
        )
        await payments.capture_payment(payment)
    finally:
        await pool.close()
    assert stock(dsn, sku) == (5, 2)

    outcomes = await repair_order(settings, order.order_id, "saga terminated")

    assert [outcome.applied for outcome in outcomes] == [True, True, False, True, True]
    assert provider_operations(dsn, order.order_id) == [
        ("authorize", "approved"),
        ("capture", "approved"),
        ("refund", "approved"),
    ]
    assert stock(dsn, sku) == (5, 0)
    assert recorded_status(dsn, order.order_id) == "CANCELLED"
    assert check_order_invariants(dsn, [order.order_id]) == []


async def test_a_repair_with_no_worker_to_run_it_says_how_to_start_one(settings: Settings) -> None:
    """It used to wait in silence for a worker that was never started."""
    nobody_polls = settings.model_copy(update={"order_task_queue": "orders-nobody-polls"})
    with pytest.raises(ServiceUnavailable, match="no worker polls the task queue") as raised:
        await asyncio.wait_for(repair_order(nobody_polls, "ord-any", "test"), 10)
    assert raised.value.remedy == "start one with `./hybrid stack up --worker`"


async def test_a_repair_of_an_order_that_does_not_exist_is_refused_in_words(
    settings: Settings,
) -> None:
    with pytest.raises(InvalidInput, match="there is no order ord-never-placed"):
        await repair_order(settings, "ord-never-placed", "test")
