"""OrderSagaWorkflow: one order from PENDING to COMPLETED, REJECTED, CANCELLED or FAILED.

The business process, step by step, with the compensation of each step:

    record order                          (PENDING, idempotent on the order id)
    fraud screen                          APPROVE / REVIEW / REJECT
      REVIEW: wait for the `decide_review` update, at most `review_timeout` (default 24 h);
              no decision by then means REJECTED
    check shipping zone                   (v2, patch "check-shipping-zone-first")
    reserve stock       <- release stock
    authorize payment   <- void payment
    create shipment     <- cancel shipment
    capture payment     <- refund payment    (the point of no return for cancellation)
    complete order                        (stock consumed, COMPLETED)

If a step fails for a business reason (out of stock, card declined, unknown SKU, invalid
quantity, no carrier), the steps that happened are compensated in reverse order and the order
ends FAILED. Compensations never give up: they retry until they succeed, and each is recorded.

Messages:
    update `decide_review(ReviewDecision)`  only while a review is pending
    update `cancel(CancelRequest)`          before capture: abort and compensate (CANCELLED);
                                            after capture: refused
    signal `fraud_alert(FraudAlertSignal)`  before capture: abort and compensate (REJECTED)
    workflow cancellation (Temporal)        as the `cancel` update: before capture compensate,
                                            close CANCELLED and end cancelled; after capture
                                            finish the order
Queries: `status`, `steps`, `compensations`. Search attributes OrderStatus, CustomerId and
FraudDecision, set together at the milestones (AWAITING_REVIEW, COMPENSATING, the outcome).

Versions, kept replayable with `workflow.patched`: v2 checks the shipping zone before anything is
held; v3 sets the search attributes only at the milestones; v4 behaves as v3 but records one
patch marker per run instead of two (each marker costs an event and a search-attribute upsert):
from v4 on, a run asks once for its release, newest first.

A compensation is registered *before* its step starts: an abort can arrive while the step is in
flight, and whether it took effect is then unknown. Every compensation is idempotent and leaves
a tombstone that stops a late attempt of its step, so running it is always safe; when a step
fails for a business reason its transaction rolled back, so its compensation is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, NamedTuple

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.cancellation import is_cancellation

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.orders.inventory import InventoryActivities
    from activities.orders.order import OrderActivities
    from activities.orders.payments import PaymentActivities
    from activities.orders.shipping import ShippingActivities
    from domain.orders.models import (
        BusinessError,
        CancelRequest,
        CompensationRecord,
        FraudAlertSignal,
        FraudDecision,
        MessageAccepted,
        OrderClosure,
        OrderRef,
        OrderRequest,
        OrderResult,
        OrderStatus,
        OrderView,
        PaymentRequest,
        ReservationRequest,
        ReviewDecision,
        ReviewVerdict,
        Screening,
        ScreeningRequest,
        ShipmentRequest,
        StepOutcome,
        StepRecord,
    )
    from domain.orders.search_attributes import CUSTOMER_ID, FRAUD_DECISION, ORDER_STATUS

# Forward steps retry infrastructure errors with backoff for up to ten minutes, then the saga
# compensates. Business errors are final at once.
STEP_TIMEOUTS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[kind.value for kind in BusinessError],
    ),
}
# Compensations must never give up: unlimited attempts, backoff capped at a minute.
COMPENSATION_TIMEOUTS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
    ),
}


# From v3 the search attributes are set only at the milestones a person searches for, in one
# upsert each: every upsert is a history event and a visibility write, and most orders finish in
# under a second. The `status` query always has the exact step.
SEARCHABLE_STATUSES = frozenset(
    {
        OrderStatus.AWAITING_REVIEW,
        OrderStatus.COMPENSATING,
        OrderStatus.COMPLETED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
        OrderStatus.FAILED,
    }
)


class SagaAborted(Exception):
    """A cancel update or a fraud alert arrived before capture."""

    def __init__(self, status: OrderStatus, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Compensation(NamedTuple):
    step: str
    name: str
    undo: Callable[[], Awaitable[StepOutcome]]


@workflow.defn(failure_exception_types=[ValidationError])
class OrderSagaWorkflow:
    @workflow.init
    def __init__(self, order: OrderRequest) -> None:
        self.order = order
        self.status = OrderStatus.PENDING
        self.screening: Screening | None = None
        self.review: ReviewDecision | None = None
        self.abort: SagaAborted | None = None
        self.capture_started = False
        self.release = 4
        self.step_history: list[StepRecord] = []
        self.compensations_done: list[CompensationRecord] = []
        self.pending_compensations: list[Compensation] = []

    @workflow.run
    async def run(self, order: OrderRequest) -> OrderResult:
        if workflow.info().workflow_id != order.order_id:
            # one workflow per order: that is what makes a second start of an order a no-op
            raise ApplicationError(
                f"the workflow id must be the order id {order.order_id!r}",
                type="InvalidWorkflowId",
                non_retryable=True,
            )
        try:
            return await self.process(order)
        except (asyncio.CancelledError, ActivityError) as error:
            if not is_cancellation(error):
                raise
            # Cancelled through Temporal (`temporal workflow cancel`, a parent workflow): the
            # same rules as the `cancel` update. Before capture the order is compensated and
            # closed CANCELLED, and the workflow ends cancelled; after capture the order is
            # finished, as the update would refuse to cancel it.
            if self.capture_started:
                return await self.finish_after_capture()
            await self.compensate()
            await self.close(OrderStatus.CANCELLED, "cancelled: workflow cancellation requested")
            raise

    async def process(self, order: OrderRequest) -> OrderResult:
        self.release = release_of_this_run()
        if self.release < 3:
            workflow.upsert_search_attributes([CUSTOMER_ID.value_set(order.customer_id)])
        self.set_status(OrderStatus.PENDING)
        await self.step("record_order", OrderActivities.record_order, order)

        self.set_status(OrderStatus.SCREENING)
        self.screening = await self.step(
            "screen_order", OrderActivities.screen_order, self.screening_request()
        )
        if self.release < 3:
            workflow.upsert_search_attributes([FRAUD_DECISION.value_set(self.screening.decision)])
        if self.screening.decision is FraudDecision.REJECT:
            return await self.close(OrderStatus.REJECTED, "; ".join(self.screening.reasons))
        if self.screening.decision is FraudDecision.REVIEW:
            rejection = await self.wait_for_review()
            if rejection:
                return await self.close(OrderStatus.REJECTED, rejection)

        payment = self.payment_request()
        try:
            self.raise_if_aborted()  # a cancel or a fraud alert during the review
            # v2: an order no carrier can deliver fails before stock or money is held (runs of
            # v2 and v3 ask here, as they did when their histories were written)
            if self.release >= 4 or workflow.patched("check-shipping-zone-first"):
                await self.step(
                    "check_shipping_zone",
                    ShippingActivities.check_shipping_zone,
                    self.shipment_request(),
                )
            self.set_status(OrderStatus.RESERVING_STOCK)
            await self.compensable(
                "reserve_stock",
                InventoryActivities.reserve_stock,
                ReservationRequest(order_id=order.order_id, items=order.items),
                "release_stock",
                InventoryActivities.release_stock,
                OrderRef(order_id=order.order_id),
            )
            self.set_status(OrderStatus.AUTHORIZING_PAYMENT)
            await self.compensable(
                "authorize_payment",
                PaymentActivities.authorize_payment,
                payment,
                "void_payment",
                PaymentActivities.void_payment,
                payment,
            )
            self.set_status(OrderStatus.CREATING_SHIPMENT)
            await self.compensable(
                "create_shipment",
                ShippingActivities.create_shipment,
                self.shipment_request(),
                "cancel_shipment",
                ShippingActivities.cancel_shipment,
                OrderRef(order_id=order.order_id),
            )
            self.raise_if_aborted()
            self.capture_started = True  # from here on, cancel and fraud alerts are refused
            self.set_status(OrderStatus.CAPTURING_PAYMENT)
            await self.compensable(
                "capture_payment",
                PaymentActivities.capture_payment,
                payment,
                "refund_payment",
                PaymentActivities.refund_payment,
                payment,
            )
        except SagaAborted as aborted:
            await self.compensate()
            return await self.close(aborted.status, aborted.reason)
        except ActivityError as failure:
            if is_cancellation(failure):
                raise  # the workflow is being cancelled, with the step in flight
            await self.compensate()
            return await self.close(OrderStatus.FAILED, describe_failure(failure))

        return await self.finish_after_capture()

    async def finish_after_capture(self) -> OrderResult:
        """Capture (again, if a cancellation interrupted the wait: it is idempotent) and
        complete the order."""
        if not any(s.step == "capture_payment" and s.outcome == "done" for s in self.step_history):
            await self.step(
                "capture_payment", PaymentActivities.capture_payment, self.payment_request()
            )
        await self.step(
            "complete_order",
            OrderActivities.complete_order,
            OrderRef(order_id=self.order.order_id),
        )
        self.set_status(OrderStatus.COMPLETED)
        return self.result(reason=None)

    # --- messages --------------------------------------------------------------------------------

    @workflow.update
    async def decide_review(self, decision: ReviewDecision) -> MessageAccepted:
        self.review = decision
        return self.accepted(f"review {decision.decision.value} by {decision.reviewer}")

    @decide_review.validator
    def validate_review(self, decision: ReviewDecision) -> None:
        if self.status is not OrderStatus.AWAITING_REVIEW or self.review is not None:
            raise ValueError(
                f"order {self.order.order_id} has no pending review (status {self.status.value})"
            )

    @workflow.update
    async def cancel(self, request: CancelRequest) -> MessageAccepted:
        self.abort = SagaAborted(OrderStatus.CANCELLED, f"cancelled: {request.reason}")
        return self.accepted("cancellation accepted: compensating")

    @cancel.validator
    def validate_cancel(self, request: CancelRequest) -> None:
        if self.status.terminal:
            raise ValueError(f"order {self.order.order_id} is already {self.status.value}")
        if self.capture_started:
            raise ValueError(
                f"order {self.order.order_id} cannot be cancelled: payment has been captured;"
                " request a return instead"
            )
        if self.abort is not None:
            raise ValueError(f"order {self.order.order_id} is already aborting: {self.abort}")

    @workflow.signal
    def fraud_alert(self, alert: FraudAlertSignal) -> None:
        if self.capture_started or self.status.terminal or self.abort is not None:
            workflow.logger.info("fraud alert %s ignored: order is %s", alert.alert_id, self.status)
            return
        self.abort = SagaAborted(
            OrderStatus.REJECTED, f"fraud alert {alert.alert_id} ({alert.pattern}) on the card"
        )

    @workflow.query(name="status")
    def status_view(self) -> OrderView:
        return OrderView(
            order_id=self.order.order_id,
            status=self.status,
            fraud_decision=self.screening.decision if self.screening else None,
            reasons=self.screening.reasons if self.screening else [],
            review=self.review,
            abort_reason=self.abort.reason if self.abort else None,
        )

    @workflow.query
    def steps(self) -> list[StepRecord]:
        return self.step_history

    @workflow.query
    def compensations(self) -> list[CompensationRecord]:
        return self.compensations_done

    # --- the machinery behind the steps --------------------------------------------------------

    async def wait_for_review(self) -> str | None:
        """Wait for a reviewer; returns why the order is rejected, or None when approved."""
        self.set_status(OrderStatus.AWAITING_REVIEW)
        try:
            await workflow.wait_condition(
                lambda: self.review is not None or self.abort is not None,
                timeout=self.order.review_timeout,
                timeout_summary="review deadline",
            )
        except TimeoutError:
            return f"no review decision within {self.order.review_timeout}"
        if self.review is None:
            return None  # aborted: the caller compensates and closes
        if self.review.decision is ReviewVerdict.REJECT:
            return f"rejected in review by {self.review.reviewer}: {self.review.note}"
        return None

    async def step(self, name: str, activity: Callable[..., Any], argument: Any) -> Any:
        self.record_step(name, "started")
        try:
            result = await workflow.execute_activity_method(activity, argument, **STEP_TIMEOUTS)
        except ActivityError as failure:
            self.record_step(name, "failed", describe_failure(failure))
            raise
        self.record_step(name, "done", getattr(result, "detail", ""))
        return result

    async def compensable(
        self,
        name: str,
        activity: Callable[..., Any],
        argument: Any,
        undo_name: str,
        undo_activity: Callable[..., Any],
        undo_argument: Any,
    ) -> None:
        """Run a step that an abort may interrupt, with its compensation registered first."""
        self.raise_if_aborted()

        async def undo() -> StepOutcome:
            return await workflow.execute_activity_method(
                undo_activity, undo_argument, **COMPENSATION_TIMEOUTS
            )

        compensation = Compensation(step=name, name=undo_name, undo=undo)
        self.pending_compensations.append(compensation)
        self.record_step(name, "started")
        running = workflow.start_activity_method(activity, argument, **STEP_TIMEOUTS)
        await workflow.wait_condition(lambda: running.done() or self.abort is not None)
        if not running.done():
            running.cancel()
            with contextlib.suppress(ActivityError, asyncio.CancelledError):
                await running  # resolves at once: the activity is abandoned, not awaited
            self.record_step(name, "cancelled", "aborted while in flight")
            self.raise_if_aborted()
        try:
            outcome: StepOutcome = await running
        except ActivityError as failure:
            if is_business_failure(failure):
                # its transaction rolled back: nothing to undo
                self.pending_compensations.remove(compensation)
            self.record_step(name, "failed", describe_failure(failure))
            raise
        self.record_step(name, "done", outcome.detail)

    async def compensate(self) -> None:
        self.set_status(OrderStatus.COMPENSATING)
        while self.pending_compensations:
            # removed once done: a cancellation arriving meanwhile runs it again (idempotent)
            compensation = self.pending_compensations[-1]
            outcome = await compensation.undo()
            self.pending_compensations.pop()
            self.compensations_done.append(
                CompensationRecord(
                    step=compensation.step,
                    compensation=compensation.name,
                    at=workflow.now(),
                    detail=outcome.detail,
                )
            )

    def raise_if_aborted(self) -> None:
        if self.abort is not None:
            raise self.abort

    async def close(self, status: OrderStatus, reason: str) -> OrderResult:
        await self.step(
            "close_order",
            OrderActivities.close_order,
            OrderClosure(
                order_id=self.order.order_id,
                status=status,
                reason=reason,
                fraud_decision=self.screening.decision if self.screening else None,
            ),
        )
        self.set_status(status)
        return self.result(reason)

    def set_status(self, status: OrderStatus) -> None:
        self.status = status
        if status.terminal:
            # the metric meter records nothing while a history is replayed
            workflow.metric_meter().create_counter(
                "order_saga_outcomes", "Order sagas finished, by outcome"
            ).add(1, {"outcome": status.value})
        if self.release < 3:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        elif status in SEARCHABLE_STATUSES:
            updates = [
                ORDER_STATUS.value_set(status.value),
                CUSTOMER_ID.value_set(self.order.customer_id),
            ]
            if self.screening is not None:
                updates.append(FRAUD_DECISION.value_set(self.screening.decision))
            workflow.upsert_search_attributes(updates)

    def record_step(self, step: str, outcome: str, detail: str = "") -> None:
        self.step_history.append(
            StepRecord(step=step, outcome=outcome, at=workflow.now(), detail=detail)
        )

    def accepted(self, message: str) -> MessageAccepted:
        return MessageAccepted(order_id=self.order.order_id, status=self.status, message=message)

    def result(self, reason: str | None) -> OrderResult:
        return OrderResult(
            order_id=self.order.order_id,
            status=self.status,
            reason=reason,
            fraud_decision=self.screening.decision if self.screening else None,
            steps=self.step_history,
            compensations=self.compensations_done,
        )

    def screening_request(self) -> ScreeningRequest:
        return ScreeningRequest(
            order_id=self.order.order_id,
            customer_id=self.order.customer_id,
            card_id=self.order.payment.card_id,
            amount=self.order.total,
            client_country=self.order.client.country,
            ship_country=self.order.shipping_address.country,
        )

    def shipment_request(self) -> ShipmentRequest:
        return ShipmentRequest(
            order_id=self.order.order_id,
            address=self.order.shipping_address,
            items=self.order.items,
        )

    def payment_request(self) -> PaymentRequest:
        return PaymentRequest(
            order_id=self.order.order_id,
            card_id=self.order.payment.card_id,
            amount=self.order.total,
            currency=self.order.currency,
        )


def release_of_this_run() -> int:
    """The saga's release this run started with, asked newest first so that a new run records
    one patch marker. Runs of v1 and v2 both answer 2: whether the zone check comes first is
    asked where v2 asked it."""
    if workflow.patched("saga-v4"):
        return 4
    if workflow.patched("status-milestones-only"):
        return 3
    return 2


def is_business_failure(failure: ActivityError) -> bool:
    cause = failure.cause
    return isinstance(cause, ApplicationError) and cause.type in {k.value for k in BusinessError}


def describe_failure(failure: ActivityError) -> str:
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or failure)
