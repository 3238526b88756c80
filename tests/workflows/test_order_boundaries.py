"""What reaches an order from outside its saga: a signal without its payload, a second start of
a finished order, and the repair of an order whose saga ended without closing it."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from domain.orders.examples import an_order
from domain.orders.models import (
    FRAUD_ALERT,
    FraudDecision,
    OrderStatus,
    RecordedOrder,
    RepairRequest,
    ReviewDecision,
    ReviewVerdict,
)
from domain.orders.search_attributes import ORDER_STATUS
from tests.support.scripted_orders import SagaHarness, start, wait_until_status
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.orders.order_repair import OrderRepairWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow


async def workflow_task_failures(handle: WorkflowHandle) -> list[str]:
    return [
        event.workflow_task_failed_event_attributes.failure.message
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_a_signal_without_its_payload_is_refused_and_the_order_goes_on(
    saga: SagaHarness,
) -> None:
    """It used to fail every later workflow task of the order (`fraud_alert() missing 1
    required positional argument`), so that even a review was refused."""
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)

    await handle.signal(FRAUD_ALERT)  # what `temporal workflow signal` without --input sends
    await handle.signal(FRAUD_ALERT, {"alert_id": 7})  # and a payload of the wrong shape

    await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="rita", note="checked"),
    )
    result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    refused = [step for step in result.steps if step.outcome == "refused"]
    assert [step.step for step in refused] == [FRAUD_ALERT, FRAUD_ALERT]
    assert "takes 1 input (fraud_alert_signal), but was given no arguments" in refused[0].detail
    assert "alert_id" in refused[1].detail
    assert saga.backend.calls.count("record_refusal") == 2  # in the order's audit log
    assert await workflow_task_failures(handle) == []


async def test_a_second_start_of_a_finished_order_returns_its_recorded_outcome(
    saga: SagaHarness,
) -> None:
    """Temporal starts a new run for the id of a closed workflow: that run found the order
    recorded, went on, and ended REJECTED while PostgreSQL said COMPLETED."""
    saga.backend.decision = FraudDecision.REJECT  # what a second saga would have concluded
    saga.backend.recorded = RecordedOrder(
        applied=False,
        status=OrderStatus.COMPLETED,
        status_reason=None,
        fraud_decision=FraudDecision.APPROVE,
        recorded_by_run="an-earlier-run",
    )
    handle = await start(saga)
    result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert result.fraud_decision is FraudDecision.APPROVE
    assert saga.backend.calls == ["record_order"]  # no stock, payment or shipment touched
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(ORDER_STATUS) == OrderStatus.COMPLETED.value


async def test_a_second_start_of_an_order_left_pending_carries_it_on(saga: SagaHarness) -> None:
    """An order whose earlier run was terminated is not finished: the new run takes it on (each
    step is idempotent on the order id)."""
    saga.backend.recorded = RecordedOrder(
        applied=False, status=OrderStatus.PENDING, recorded_by_run="a-terminated-run"
    )
    result = await (await start(saga)).result()
    assert result.status is OrderStatus.COMPLETED
    assert "capture_payment" in saga.backend.calls


async def test_a_repair_undoes_what_was_done_newest_first_and_cancels_the_order(
    saga: SagaHarness,
) -> None:
    order = an_order()
    task_queue = f"repair-{uuid.uuid4().hex[:6]}"
    async with Worker(
        saga.client,
        task_queue=task_queue,
        workflows=[OrderRepairWorkflow],
        activities=saga.backend.activities(),
        interceptors=WORKFLOW_INTERCEPTORS,
    ):
        outcomes = await saga.client.execute_workflow(
            OrderRepairWorkflow.run,
            RepairRequest(order_id=order.order_id, reason="terminated by an operator"),
            id=f"repair-{order.order_id}",
            task_queue=task_queue,
        )
    assert saga.backend.calls == [
        "recorded_state",
        "refund_payment",
        "cancel_shipment",
        "void_payment",
        "release_stock",
        "close_order",
    ]
    assert len(outcomes) == 5
