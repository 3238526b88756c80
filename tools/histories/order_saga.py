"""The order saga's branches, each driven for real on the stack, and its stored histories:
tests/histories/order_saga/<branch>.<tag>.json."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from core.db.connections import connect
from core.settings import PROJECT_ROOT, Settings
from domain.orders.examples import an_order
from domain.orders.models import (
    FRAUD_ALERT,
    CancelRequest,
    FraudAlertSignal,
    OrderRequest,
    OrderResult,
    OrderStatus,
    ReviewDecision,
    ReviewVerdict,
)
from tools.seed import seed
from workflows.orders.order_saga import OrderSagaWorkflow

HISTORY_DIR = PROJECT_ROOT / "tests" / "histories" / "order_saga"
SCARCE_SKU = "SKU-HISTORY-SCARCE"
SagaHandle = WorkflowHandle[OrderSagaWorkflow, OrderResult]


def history_order(
    *,
    card_id: str = "card_history_ok",
    sku: str = "SKU-CABLE-USBC",
    unit_price: str | None = None,
    country: str = "FR",
    review_timeout_s: float = 24 * 3600,
) -> OrderRequest:
    return an_order(
        {sku: 1},
        prefix="hist",
        card_id=card_id,
        country=country,
        placed_from="FR",  # the customer's home: shipped abroad, the order needs no review
        unit_price=unit_price,
        review_timeout=timedelta(seconds=review_timeout_s),
    )


async def wait_for_status(handle: WorkflowHandle, *statuses: OrderStatus) -> None:
    for _ in range(600):
        if (await handle.query(OrderSagaWorkflow.status_view)).status in statuses:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{handle.id} never reached {statuses}")


Driver = Callable[[WorkflowHandle], Awaitable[None]]


async def nothing(_: WorkflowHandle) -> None:
    return None


async def approve_review(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="rita", note="verified by phone"),
    )


async def reject_review(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.REJECT, reviewer="rita", note="card reported"),
    )


async def cancel_during_payment(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AUTHORIZING_PAYMENT, OrderStatus.CREATING_SHIPMENT)
    await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="changed mind"))


async def cancel_too_late(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.CAPTURING_PAYMENT)
    try:
        await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="too late"))
    except WorkflowUpdateFailedError:
        return
    raise AssertionError("a cancel after capture must be refused")


async def fraud_alert_mid_saga(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AUTHORIZING_PAYMENT, OrderStatus.CREATING_SHIPMENT)
    await handle.signal(
        FRAUD_ALERT,
        FraudAlertSignal(alert_id="alert-history", card_id="card_history_ok", pattern="velocity"),
    )


async def refused_signals_then_approve(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.signal(FRAUD_ALERT)  # no payload: `temporal workflow signal` without --input
    await handle.signal(FRAUD_ALERT, {"alert_id": 7})  # not a FraudAlertSignal
    await approve_review(handle)


@dataclass(frozen=True)
class Branch:
    name: str
    order: Callable[[], OrderRequest]
    drive: Driver
    expected: OrderStatus
    since: int = 1  # the saga version that has the branch (older runs cannot take it)
    # the order runs once to its end before the recorded run: a second start of its id
    started_before: bool = False


BRANCHES = [
    Branch("approved", lambda: history_order(), nothing, OrderStatus.COMPLETED),
    Branch(
        "rejected_by_screen",
        lambda: history_order(card_id="card_history_flagged"),
        nothing,
        OrderStatus.REJECTED,
    ),
    Branch(
        "review_approved",
        lambda: history_order(unit_price="5200.00"),
        approve_review,
        OrderStatus.COMPLETED,
    ),
    Branch(
        "review_rejected",
        lambda: history_order(unit_price="5200.00"),
        reject_review,
        OrderStatus.REJECTED,
    ),
    Branch(
        "review_timed_out",
        lambda: history_order(unit_price="5200.00", review_timeout_s=2),
        nothing,
        OrderStatus.REJECTED,
    ),
    Branch(
        "cancelled_before_capture",
        lambda: history_order(),
        cancel_during_payment,
        OrderStatus.CANCELLED,
    ),
    Branch(
        "cancel_refused_after_capture",
        lambda: history_order(),
        cancel_too_late,
        OrderStatus.COMPLETED,
    ),
    Branch(
        "fraud_alert_signal", lambda: history_order(), fraud_alert_mid_saga, OrderStatus.REJECTED
    ),
    Branch(
        "declined_at_authorize",
        lambda: history_order(card_id="card_declined_history"),
        nothing,
        OrderStatus.FAILED,
    ),
    Branch("out_of_stock", lambda: history_order(sku=SCARCE_SKU), nothing, OrderStatus.FAILED),
    Branch(
        "unknown_sku", lambda: history_order(sku="SKU-NO-SUCH-THING"), nothing, OrderStatus.FAILED
    ),
    Branch(
        "shipping_unavailable", lambda: history_order(country="AQ"), nothing, OrderStatus.FAILED
    ),
    Branch(
        "declined_at_capture",
        lambda: history_order(card_id="card_capture_declined_history"),
        nothing,
        OrderStatus.FAILED,
    ),
    Branch(
        "started_again_after_completion",
        lambda: history_order(),
        nothing,
        OrderStatus.COMPLETED,
        since=5,
        started_before=True,
    ),
    Branch(
        "signals_refused",
        lambda: history_order(unit_price="5200.00"),
        refused_signals_then_approve,
        OrderStatus.COMPLETED,
        since=5,
    ),
]


def prepare_fixtures(dsn: str) -> None:
    seed(dsn)
    with connect(dsn) as conn:
        conn.execute(
            "insert into inventory (sku, description, unit_price, on_hand) values (%s,"
            " 'always out of stock', 10, 0) on conflict (sku) do nothing",
            (SCARCE_SKU,),
        )
        conn.execute(
            "insert into fraud_alerts (alert_id, card_id, pattern, event_time)"
            " values ('alert-history-flagged', 'card_history_flagged', 'card_testing', now())"
            " on conflict (alert_id) do nothing"
        )


async def record_branch(client: Client, settings: Settings, branch: Branch, tag: str) -> Path:
    order = branch.order()
    if branch.started_before:
        await client.execute_workflow(
            OrderSagaWorkflow.run, order, id=order.order_id, task_queue=settings.order_task_queue
        )
    handle = await client.start_workflow(
        OrderSagaWorkflow.run, order, id=order.order_id, task_queue=settings.order_task_queue
    )
    await branch.drive(handle)
    result = await asyncio.wait_for(handle.result(), 60)
    if result.status is not branch.expected:
        raise AssertionError(f"{branch.name}: expected {branch.expected}, got {result.status}")
    path = HISTORY_DIR / f"{branch.name}.{tag}.json"
    path.write_text((await handle.fetch_history()).to_json())
    return path
