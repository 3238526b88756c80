"""The order saga on the real stack: PostgreSQL, the Temporal dev server, real workers.

The invariants (domain/orders/invariants.py) must hold after hundreds of orders with random provider
faults, cancellations and fraud alerts, and after a worker is killed mid-saga."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid

import psycopg
import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from core.settings import Settings
from domain.orders.examples import an_order
from domain.orders.invariants import check_order_invariants
from domain.orders.models import (
    FRAUD_ALERT,
    CancelRequest,
    FraudAlertSignal,
    OrderResult,
    OrderStatus,
    ReviewDecision,
    ReviewVerdict,
)
from tests.support.orders import new_sku, provider_operations, stock
from tests.support.worker import ThreadedWorker, start_worker_process
from workflows.orders.order_saga import OrderSagaWorkflow

pytestmark = pytest.mark.usefixtures("seeded")


async def test_an_order_completes_and_is_consistent(client: Client, worker, settings) -> None:
    sku = new_sku(settings.postgres_dsn, on_hand=5)
    order = an_order({sku: 2})
    result: OrderResult = await asyncio.wait_for(
        client.execute_workflow(
            OrderSagaWorkflow.run, order, id=order.order_id, task_queue=settings.order_task_queue
        ),
        60,
    )
    assert result.status is OrderStatus.COMPLETED
    assert stock(settings.postgres_dsn, sku) == (3, 0)
    assert provider_operations(settings.postgres_dsn, order.order_id) == [
        ("authorize", "approved"),
        ("capture", "approved"),
    ]
    with psycopg.connect(settings.postgres_dsn) as conn:
        events = conn.execute(
            "select step, event from saga_events where order_id = %s order by event_id",
            (order.order_id,),
        ).fetchall()
    assert events == [
        ("record_order", "done"),
        ("screen_order", "done"),
        ("reserve_stock", "done"),
        ("authorize_payment", "done"),
        ("create_shipment", "done"),
        ("capture_payment", "done"),
        ("complete_order", "done"),
    ]
    assert check_order_invariants(settings.postgres_dsn, [order.order_id]) == []


async def test_cancel_is_refused_once_the_order_is_completed(client, worker, settings) -> None:
    order = an_order({new_sku(settings.postgres_dsn): 1})
    handle = await client.start_workflow(
        OrderSagaWorkflow.run, order, id=order.order_id, task_queue=settings.order_task_queue
    )
    await asyncio.wait_for(handle.result(), 60)
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="late"))


@pytest.fixture(scope="module")
def faulty_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "order_task_queue": f"{settings.order_task_queue}-faulty",
            "payment_transient_error_rate": 0.15,
            "payment_timeout_rate": 0.15,
        }
    )


async def test_invariants_hold_after_hundreds_of_orders_with_faults(
    client: Client, faulty_settings: Settings
) -> None:
    rng = random.Random(20261126)
    dsn = faulty_settings.postgres_dsn
    skus = [new_sku(dsn, on_hand=60, max_per_order=4) for _ in range(6)]
    gate = asyncio.Semaphore(40)

    def random_order():
        lines = {sku: rng.randint(1, 3) for sku in rng.sample(skus, rng.randint(1, 3))}
        roll = rng.random()
        if roll < 0.03:
            lines["SKU-UNKNOWN-" + uuid.uuid4().hex[:4].upper()] = 1
        elif roll < 0.06:
            lines[skus[0]] = 9  # above max_per_order
        card = rng.choices(["card_ok", "card_declined", "card_capture_declined"], [88, 7, 5])[0]
        return an_order(
            lines,
            card_id=f"{card}_{rng.randrange(10**6)}",
            customer_id=rng.choice(["cust-alice", "cust-bob", "cust-emil", "cust-nobody"]),
            country=rng.choices(["FR", "US", "DE", "AQ"], [40, 30, 25, 5])[0],
            unit_price=rng.choice(["10.00", "25.00", "2100.00"]),
        )

    async def run_one(index: int) -> OrderResult:
        order = random_order()
        action = rng.random()
        async with gate:
            handle = await client.start_workflow(
                OrderSagaWorkflow.run,
                order,
                id=order.order_id,
                task_queue=faulty_settings.order_task_queue,
            )
            await asyncio.sleep(rng.random() * 0.3)
            try:
                if action < 0.10:
                    await handle.execute_update(
                        OrderSagaWorkflow.cancel, CancelRequest(reason=f"random cancel {index}")
                    )
                elif action < 0.15:
                    await handle.signal(
                        FRAUD_ALERT,
                        FraudAlertSignal(
                            alert_id=f"a-{order.order_id}",
                            card_id=order.payment.card_id,
                            pattern="velocity",
                        ),
                    )
            except (WorkflowUpdateFailedError, RPCError):
                pass  # too late to cancel: that is one of the outcomes under test
            for _ in range(100):
                view = await handle.query(OrderSagaWorkflow.status_view)
                if view.status is OrderStatus.AWAITING_REVIEW:
                    verdict = rng.choice([ReviewVerdict.APPROVE, ReviewVerdict.REJECT])
                    await handle.execute_update(
                        OrderSagaWorkflow.decide_review,
                        ReviewDecision(decision=verdict, reviewer="bot", note="random verdict"),
                    )
                    break
                if view.status not in (OrderStatus.PENDING, OrderStatus.SCREENING):
                    break
                await asyncio.sleep(0.05)
            return await handle.result()

    with ThreadedWorker(faulty_settings):
        results = await asyncio.wait_for(asyncio.gather(*(run_one(i) for i in range(300))), 300)

    outcomes = {status: sum(r.status is status for r in results) for status in OrderStatus}
    assert sum(outcomes.values()) == 300
    for status in (
        OrderStatus.COMPLETED,
        OrderStatus.FAILED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
    ):
        assert outcomes[status] > 0, outcomes
    assert check_order_invariants(dsn, [r.order_id for r in results]) == []
    with psycopg.connect(dsn) as conn:
        statuses: dict[str, str] = dict(
            conn.execute(
                "select order_id, status from orders where order_id = any(%s)",
                ([r.order_id for r in results],),
            ).fetchall()
        )
    assert statuses == {r.order_id: r.status.value for r in results}
    on_hand = {sku: stock(dsn, sku) for sku in skus}
    assert all(reserved == 0 for _, reserved in on_hand.values())


async def test_worker_killed_mid_saga_then_restarted(client: Client, settings: Settings) -> None:
    worker_settings = settings.model_copy(
        update={
            "order_task_queue": f"{settings.order_task_queue}-killed",
            "payment_latency_ms": 400,  # leaves time to kill the worker mid-payment
        }
    )
    queue = worker_settings.order_task_queue
    dsn = settings.postgres_dsn
    sku = new_sku(dsn, on_hand=100, max_per_order=5)

    orders = [an_order({sku: 1}) for _ in range(30)]
    first = await start_worker_process(worker_settings)
    handles = [
        await client.start_workflow(
            OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue
        )
        for order in orders
    ]
    ids = [order.order_id for order in orders]

    def captured() -> int:
        with psycopg.connect(dsn) as conn:
            count = conn.execute(
                "select count(*) from provider_operations where order_id = any(%s)"
                " and operation = 'capture'",
                (ids,),
            ).fetchone()
        return count[0] if count else 0

    for _ in range(600):
        if captured() >= 3:
            break
        await asyncio.sleep(0.1)
    mid_saga = captured()
    os.killpg(first.pid, signal.SIGKILL)
    await first.wait()
    assert 0 < mid_saga < len(orders), "the kill must land while sagas are in flight"

    second = await start_worker_process(worker_settings)
    try:
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        await second.wait()

    assert [r.status for r in results] == [OrderStatus.COMPLETED] * len(orders)
    for order in orders:
        assert provider_operations(dsn, order.order_id) == [
            ("authorize", "approved"),
            ("capture", "approved"),
        ], order.order_id
    assert stock(dsn, sku) == (100 - len(orders), 0)
    assert check_order_invariants(dsn, ids) == []
