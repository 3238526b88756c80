"""OrderSagaWorkflow: one order from PENDING to COMPLETED, REJECTED, CANCELLED or FAILED.

    record order                          (PENDING, idempotent on the order id)
    fraud screen                          APPROVE / REVIEW / REJECT
      REVIEW: wait for the `decide_review` update, at most `review_timeout` (default 24 h);
              no decision by then means REJECTED
    check shipping zone                   (v2 and later)
    reserve stock       <- release stock
    authorize payment   <- void payment
    create shipment     <- cancel shipment
    capture payment     <- refund payment    (the point of no return for cancellation)
    complete order                        (stock consumed, COMPLETED)

A step that fails for a business reason (out of stock, card declined, unknown SKU, invalid
quantity, no carrier) compensates the steps that happened, newest first, and the order ends
FAILED. Compensations never give up: they retry until they succeed, and each is recorded
(workflows/saga.py keeps the books).

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
Versions: workflows/orders/versions.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import HandlerUnfinishedPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.orders.models import (
        FRAUD_ALERT,
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
        RecordedOrder,
        RefusedMessage,
        ReservationRequest,
        ReviewDecision,
        ReviewVerdict,
        Screening,
        StepOutcome,
        StepRecord,
    )
    from domain.orders.search_attributes import CUSTOMER_ID, FRAUD_DECISION, ORDER_STATUS
    from workflows.boundary import checked_init, in_brief, refuse
    from workflows.cancellation import is_cancellation
    from workflows.options import Call
    from workflows.orders import activities as act
    from workflows.orders.policies import COMPENSATION, SEARCHABLE_STATUSES, STEP
    from workflows.orders.versions import saga_version_of_this_run, zone_check_first
    from workflows.saga import Compensations, describe_failure, failed_for, finished_unless

A = TypeVar("A")
R = TypeVar("R")
BUSINESS_ERRORS = frozenset(kind.value for kind in BusinessError)
RECORDED_REFUSALS = 10  # in the audit log; the metric counts them all


class SagaAborted(Exception):
    """A cancel update or a fraud alert arrived before capture."""

    def __init__(self, status: OrderStatus, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@workflow.defn(failure_exception_types=[ValidationError])
class OrderSagaWorkflow:
    @workflow.init
    @checked_init
    def __init__(self, order: OrderRequest) -> None:
        self.order = order
        self.status = OrderStatus.PENDING
        self.screening: Screening | None = None
        self.review: ReviewDecision | None = None
        self.abort: SagaAborted | None = None
        self.capture_started = False
        self.saga_version = 0  # asked once `run` starts (a query can come before)
        self.step_history: list[StepRecord] = []
        self.to_undo = Compensations()
        self.compensations_done: list[CompensationRecord] = []
        self.refusals = 0
        self.refusing: set[asyncio.Task[None]] = set()  # refusals being recorded

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
        self.saga_version = saga_version_of_this_run()
        if self.saga_version < 3:
            workflow.upsert_search_attributes([CUSTOMER_ID.value_set(order.customer_id)])
        self.set_status(OrderStatus.PENDING)
        recorded = await self.step(act.record_order, order)
        if self.saga_version >= 5 and recorded.status and recorded.status.terminal:
            return self.as_recorded(recorded)  # a second run of a finished order

        self.set_status(OrderStatus.SCREENING)
        self.screening = await self.step(act.screen_order, order.screening_request())
        if self.saga_version < 3:
            workflow.upsert_search_attributes([FRAUD_DECISION.value_set(self.screening.decision)])
        if self.screening.decision is FraudDecision.REJECT:
            return await self.close(OrderStatus.REJECTED, "; ".join(self.screening.reasons))
        if self.screening.decision is FraudDecision.REVIEW:
            rejection = await self.wait_for_review()
            if rejection:
                return await self.close(OrderStatus.REJECTED, rejection)

        ref, payment, shipment = (
            OrderRef(order_id=order.order_id),
            order.payment_request(),
            order.shipment_request(),
        )
        try:
            self.raise_if_aborted()  # a cancel or a fraud alert during the review
            # runs of v2 and v3 ask here, as they did when their histories were written
            if zone_check_first(self.saga_version):
                await self.step(act.check_shipping_zone, shipment)
            self.set_status(OrderStatus.RESERVING_STOCK)
            reservation = ReservationRequest(order_id=order.order_id, items=order.items)
            await self.compensable(
                Call(act.reserve_stock, reservation), undo=Call(act.release_stock, ref)
            )
            self.set_status(OrderStatus.AUTHORIZING_PAYMENT)
            await self.compensable(
                Call(act.authorize_payment, payment), undo=Call(act.void_payment, payment)
            )
            self.set_status(OrderStatus.CREATING_SHIPMENT)
            await self.compensable(
                Call(act.create_shipment, shipment), undo=Call(act.cancel_shipment, ref)
            )
            self.raise_if_aborted()
            self.capture_started = True  # from here on, cancel and fraud alerts are refused
            self.set_status(OrderStatus.CAPTURING_PAYMENT)
            await self.compensable(
                Call(act.capture_payment, payment), undo=Call(act.refund_payment, payment)
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
            await self.step(act.capture_payment, self.order.payment_request())
        await self.step(act.complete_order, OrderRef(order_id=self.order.order_id))
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

    @workflow.signal(name=FRAUD_ALERT, unfinished_policy=HandlerUnfinishedPolicy.ABANDON)
    def fraud_alert(self, fraud_alert_signal: RawValue) -> None:
        """A FraudAlertSignal; anything else is refused and recorded (a signal's sender is told
        it was delivered whatever it held, so the order keeps the refusal). Synchronous, as it
        always was: an async handler would apply the alert at another point of the workflow
        task, and the stored histories would no longer replay."""
        try:
            alert = workflow.payload_converter().from_payload(
                fraud_alert_signal.payload, FraudAlertSignal
            )
            if not isinstance(alert, FraudAlertSignal):  # null decodes as None, unvalidated
                raise TypeError(f"takes a FraudAlertSignal, but was given {alert!r}")
        except Exception as error:  # not JSON, or not a FraudAlertSignal: the sender's mistake
            reason = f"signal {FRAUD_ALERT} refused: {in_brief(error)}"
            recording = asyncio.create_task(refuse(FRAUD_ALERT, reason))
            self.refusing.add(recording)
            recording.add_done_callback(self.refusing.discard)
            return
        if self.capture_started or self.status.terminal or self.abort is not None:
            workflow.logger.info("fraud alert %s ignored: order is %s", alert.alert_id, self.status)
            return
        self.abort = SagaAborted(
            OrderStatus.REJECTED, f"fraud alert {alert.alert_id} ({alert.pattern}) on the card"
        )

    async def message_refused(self, message: str, reason: str) -> None:
        """A message refused at the boundary (workflows/boundary.py): in the `steps` query and,
        for the first few, in the order's audit log."""
        self.record_step(message, "refused", reason)
        self.refusals += 1
        if self.refusals > RECORDED_REFUSALS:
            return
        refused = RefusedMessage(
            order_id=self.order.order_id, message=message, reason=reason, sequence=self.refusals
        )
        try:
            await STEP.execute(act.record_refusal, refused)
        except ActivityError as error:  # the log and the metric have it: never fail the order
            workflow.logger.warning("refusal of %s not recorded: %s", message, error)

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

    # --- how a step runs -----------------------------------------------------------------------

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

    async def step(self, activity: Callable[[A], Awaitable[R]], argument: A) -> R:
        name = activity.__name__
        self.record_step(name, "started")
        try:
            result = await STEP.execute(activity, argument)
        except ActivityError as failure:
            self.record_step(name, "failed", describe_failure(failure))
            raise
        self.record_step(name, "done", getattr(result, "detail", ""))
        return result

    async def compensable(self, step: Call[A, StepOutcome], undo: Call[R, StepOutcome]) -> None:
        """A step that an abort may interrupt, with its compensation registered first."""
        self.raise_if_aborted()

        async def compensation() -> str:
            return (await undo.execute(COMPENSATION)).detail

        registered = self.to_undo.register(step.name, undo.name, compensation)
        self.record_step(step.name, "started")
        running = step.start(STEP)
        if not await finished_unless(running, lambda: self.abort is not None):
            self.record_step(step.name, "cancelled", "aborted while in flight")
            self.raise_if_aborted()
        try:
            outcome = await running
        except ActivityError as failure:
            if failed_for(failure, BUSINESS_ERRORS):
                self.to_undo.discard(registered)  # its transaction rolled back
            self.record_step(step.name, "failed", describe_failure(failure))
            raise
        self.record_step(step.name, "done", outcome.detail)

    async def compensate(self) -> None:
        self.set_status(OrderStatus.COMPENSATING)
        async for compensation, detail in self.to_undo.run():
            self.compensations_done.append(
                CompensationRecord(
                    step=compensation.step,
                    compensation=compensation.name,
                    at=workflow.now(),
                    detail=detail,
                )
            )

    def raise_if_aborted(self) -> None:
        if self.abort is not None:
            raise self.abort

    async def close(self, status: OrderStatus, reason: str) -> OrderResult:
        decision = self.screening.decision if self.screening else None
        closure = OrderClosure(
            order_id=self.order.order_id, status=status, reason=reason, fraud_decision=decision
        )
        await self.step(act.close_order, closure)
        self.set_status(status)
        return self.result(reason)

    def as_recorded(self, recorded: RecordedOrder) -> OrderResult:
        """The outcome the database recorded for this order, by an earlier run: Temporal's
        result and search attributes then say what PostgreSQL says, and no stock, payment or
        shipment is touched (nor the outcome counted twice)."""
        status = recorded.status or OrderStatus.PENDING
        self.status = status
        updates = [
            ORDER_STATUS.value_set(status.value),
            CUSTOMER_ID.value_set(self.order.customer_id),
        ]
        if recorded.fraud_decision is not None:
            updates.append(FRAUD_DECISION.value_set(recorded.fraud_decision))
        workflow.upsert_search_attributes(updates)
        return OrderResult(
            order_id=self.order.order_id,
            status=status,
            reason=recorded.status_reason,
            fraud_decision=recorded.fraud_decision,
            steps=self.step_history,
            compensations=[],
        )

    def set_status(self, status: OrderStatus) -> None:
        self.status = status
        if status.terminal:
            # the metric meter records nothing while a history is replayed
            workflow.metric_meter().create_counter(
                "order_saga_outcomes", "Order sagas finished, by outcome"
            ).add(1, {"outcome": status.value})
        if self.saga_version < 3:
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
