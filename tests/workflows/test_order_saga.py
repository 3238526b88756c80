"""Every branch of the order saga, on the time-skipping test server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError

from domain.orders.examples import an_order
from domain.orders.models import (
    FRAUD_ALERT,
    BusinessError,
    CancelRequest,
    FraudAlertSignal,
    FraudDecision,
    OrderResult,
    OrderStatus,
    ReviewDecision,
    ReviewVerdict,
)
from tests.support.scripted_orders import SagaHarness, start, wait_until_status
from workflows.orders.order_saga import OrderSagaWorkflow

FORWARD = [
    "record_order",
    "screen_order",
    "check_shipping_zone",
    "reserve_stock",
    "authorize_payment",
    "create_shipment",
    "capture_payment",
]


async def test_approved_order_completes(saga: SagaHarness) -> None:
    result: OrderResult = await (await start(saga)).result()
    assert result.status is OrderStatus.COMPLETED
    assert result.fraud_decision is FraudDecision.APPROVE
    assert saga.backend.calls == [*FORWARD, "complete_order"]
    assert result.compensations == []
    assert [s.step for s in result.steps if s.outcome == "done"] == [*FORWARD, "complete_order"]


async def test_rejected_by_the_fraud_screen(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REJECT
    result = await (await start(saga)).result()
    assert result.status is OrderStatus.REJECTED
    assert saga.backend.calls == ["record_order", "screen_order", "close_order"]
    assert result.compensations == []


async def test_review_approved_then_completes(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)
    accepted = await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="rita", note="known customer"),
    )
    assert accepted.message == "review APPROVE by rita"
    result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert result.fraud_decision is FraudDecision.REVIEW


async def test_review_rejected(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.REJECT, reviewer="rita", note="stolen card"),
    )
    result = await handle.result()
    assert result.status is OrderStatus.REJECTED
    assert result.reason == "rejected in review by rita: stolen card"
    assert "reserve_stock" not in saga.backend.calls


async def test_review_times_out_and_rejects(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga, review_timeout=timedelta(hours=24))
    result = await handle.result()  # the test server skips the 24 hours
    assert result.status is OrderStatus.REJECTED
    assert result.reason == "no review decision within 1 day, 0:00:00"
    assert saga.backend.calls == ["record_order", "screen_order", "close_order"]


async def test_review_update_is_refused_without_a_pending_review(saga: SagaHarness) -> None:
    saga.backend.block_at = "reserve_stock"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            OrderSagaWorkflow.decide_review,
            ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="rita", note="ok"),
        )
    assert "has no pending review (status RESERVING_STOCK)" in str(refused.value.cause)
    saga.backend.release.set()
    assert (await handle.result()).status is OrderStatus.COMPLETED


async def test_review_update_requires_reviewer_and_note(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide_review", {"decision": "APPROVE", "reviewer": "rita"})
    assert "note" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            "decide_review", {"decision": "MAYBE", "reviewer": "rita", "note": "hmm"}
        )
    view = await handle.query(OrderSagaWorkflow.status_view)
    assert view.status is OrderStatus.AWAITING_REVIEW
    assert view.review is None


async def test_cancel_before_capture_compensates_in_reverse(saga: SagaHarness) -> None:
    saga.backend.block_at = "create_shipment"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    accepted = await handle.execute_update(
        OrderSagaWorkflow.cancel, CancelRequest(reason="customer changed their mind")
    )
    assert accepted.message == "cancellation accepted: compensating"
    result = await handle.result()
    assert result.status is OrderStatus.CANCELLED
    assert result.reason == "cancelled: customer changed their mind"
    # the shipment was in flight: its compensation runs too (idempotent, leaves a tombstone)
    assert [c.compensation for c in result.compensations] == [
        "cancel_shipment",
        "void_payment",
        "release_stock",
    ]
    assert "capture_payment" not in saga.backend.calls
    compensations = await handle.query(OrderSagaWorkflow.compensations)
    assert compensations == result.compensations


async def test_cancel_during_review(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="duplicate"))
    result = await handle.result()
    assert result.status is OrderStatus.CANCELLED
    assert result.compensations == []


async def test_cancel_after_capture_is_refused(saga: SagaHarness) -> None:
    saga.backend.block_at = "capture_payment"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="too late"))
    assert "cannot be cancelled: payment has been captured" in str(refused.value.cause)
    saga.backend.release.set()
    result = await handle.result()
    assert result.status is OrderStatus.COMPLETED


async def test_fraud_alert_before_capture_aborts_and_compensates(saga: SagaHarness) -> None:
    saga.backend.block_at = "authorize_payment"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    await handle.signal(
        FRAUD_ALERT,
        FraudAlertSignal(alert_id="alert-1", card_id="card_visa_4242", pattern="card_testing"),
    )
    result = await handle.result()
    assert result.status is OrderStatus.REJECTED
    assert result.reason == "fraud alert alert-1 (card_testing) on the card"
    assert [c.compensation for c in result.compensations] == ["void_payment", "release_stock"]


async def test_fraud_alert_after_capture_is_ignored(saga: SagaHarness) -> None:
    saga.backend.block_at = "capture_payment"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    await handle.signal(
        FRAUD_ALERT,
        FraudAlertSignal(alert_id="alert-2", card_id="card_visa_4242", pattern="velocity"),
    )
    saga.backend.release.set()
    assert (await handle.result()).status is OrderStatus.COMPLETED


@pytest.mark.parametrize(
    ("failing_step", "error", "expected_compensations"),
    [
        ("check_shipping_zone", BusinessError.SHIPPING_UNAVAILABLE, []),
        ("reserve_stock", BusinessError.UNKNOWN_SKU, []),
        ("reserve_stock", BusinessError.OUT_OF_STOCK, []),
        ("reserve_stock", BusinessError.INVALID_QUANTITY, []),
        ("authorize_payment", BusinessError.CARD_DECLINED, ["release_stock"]),
        ("create_shipment", BusinessError.SHIPPING_UNAVAILABLE, ["void_payment", "release_stock"]),
        (
            "capture_payment",
            BusinessError.CARD_DECLINED,
            ["cancel_shipment", "void_payment", "release_stock"],
        ),
    ],
)
async def test_a_business_failure_compensates_what_happened_in_reverse(
    saga: SagaHarness, failing_step: str, error: BusinessError, expected_compensations: list[str]
) -> None:
    saga.backend.fail_at = {failing_step: error}
    result = await (await start(saga)).result()
    assert result.status is OrderStatus.FAILED
    assert result.reason == f"{error.value}: scripted {error.value}"
    assert [c.compensation for c in result.compensations] == expected_compensations
    calls = saga.backend.calls
    assert calls[calls.index(failing_step) + 1 :] == [*expected_compensations, "close_order"]
    assert saga.backend.attempts[failing_step] == 1  # business errors are not retried


async def test_infrastructure_errors_are_retried(saga: SagaHarness) -> None:
    saga.backend.transient_failures = {"authorize_payment": 3, "void_payment": 2}
    result = await (await start(saga)).result()
    assert result.status is OrderStatus.COMPLETED
    assert saga.backend.attempts["authorize_payment"] == 4


async def test_compensations_never_give_up(saga: SagaHarness) -> None:
    saga.backend.fail_at = {"create_shipment": BusinessError.SHIPPING_UNAVAILABLE}
    saga.backend.transient_failures = {"void_payment": 5}
    result = await (await start(saga)).result()
    assert result.status is OrderStatus.FAILED
    assert saga.backend.attempts["void_payment"] == 6
    assert [c.compensation for c in result.compensations] == ["void_payment", "release_stock"]


async def test_queries_report_status_steps_and_search_attributes(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)
    view = await handle.query(OrderSagaWorkflow.status_view)
    assert view.fraud_decision is FraudDecision.REVIEW
    assert view.reasons == ["scripted"]
    steps = await handle.query(OrderSagaWorkflow.steps)
    assert [(s.step, s.outcome) for s in steps] == [
        ("record_order", "started"),
        ("record_order", "done"),
        ("screen_order", "started"),
        ("screen_order", "done"),
    ]
    attributes = (await handle.describe()).typed_search_attributes
    assert {p.key.name: p.value for p in attributes if p.key.name != "TemporalChangeVersion"} == {
        "CustomerId": "cust-alice",
        "FraudDecision": "REVIEW",
        "OrderStatus": "AWAITING_REVIEW",
    }
    await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="test over"))
    await handle.result()


async def test_invalid_input_fails_the_workflow_naming_the_field(saga: SagaHarness) -> None:
    bad = an_order().model_dump(mode="json")
    bad["items"][0]["quantity"] = 0
    with pytest.raises(WorkflowFailureError) as failure:
        await saga.client.execute_workflow(
            "OrderSagaWorkflow", bad, id=f"bad-{uuid.uuid4().hex[:8]}", task_queue=saga.task_queue
        )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ValidationError"
    assert "items.0.quantity" in cause.message
    assert saga.backend.calls == []


async def test_the_workflow_id_must_be_the_order_id(saga: SagaHarness) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await saga.client.execute_workflow(
            OrderSagaWorkflow.run,
            an_order(order_id="ord-real"),
            id="some-other-id",
            task_queue=saga.task_queue,
        )
    assert "the workflow id must be the order id 'ord-real'" in str(failure.value.cause)
    assert saga.backend.calls == []


async def test_workflow_cancellation_before_capture_compensates(saga: SagaHarness) -> None:
    saga.backend.block_at = "create_shipment"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    compensations = await handle.query(OrderSagaWorkflow.compensations)
    assert [c.compensation for c in compensations] == [
        "cancel_shipment",
        "void_payment",
        "release_stock",
    ]
    assert saga.backend.calls[-1] == "close_order"
    assert "capture_payment" not in saga.backend.calls
    view = await handle.query(OrderSagaWorkflow.status_view)
    assert view.status is OrderStatus.CANCELLED


async def test_workflow_cancellation_during_review(saga: SagaHarness) -> None:
    saga.backend.decision = FraudDecision.REVIEW
    handle = await start(saga)
    await wait_until_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert saga.backend.calls == ["record_order", "screen_order", "close_order"]
    assert (await handle.query(OrderSagaWorkflow.status_view)).status is OrderStatus.CANCELLED


async def test_workflow_cancellation_during_a_plain_step_compensates(saga: SagaHarness) -> None:
    saga.backend.block_at = "check_shipping_zone"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert saga.backend.calls[-1] == "close_order"
    assert (await handle.query(OrderSagaWorkflow.status_view)).status is OrderStatus.CANCELLED


async def test_workflow_cancellation_after_capture_finishes_the_order(saga: SagaHarness) -> None:
    saga.backend.block_at = "capture_payment"
    handle = await start(saga)
    await saga.backend.blocked.wait()
    await handle.cancel()
    saga.backend.release.set()
    result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert result.compensations == []
    assert saga.backend.calls[-1] == "complete_order"
