"""OrderRepairWorkflow: closes an order whose saga ended without closing it.

A saga that is terminated (or fails after its steps ran out of retries) leaves its order PENDING
in PostgreSQL, with whatever it had done still done. The repair undoes what the database shows
was done, newest first, with the saga's own compensations (each idempotent, each leaving the
tombstone that stops a late attempt of its step), then closes the order CANCELLED:

    refund payment      when it was captured
    cancel shipment     when one was created
    void payment        when it was authorized
    release stock       when it was reserved
    close order         CANCELLED, with the reason

An order already closed is left as it is. Start it with `./hybrid orders repair <order id>`,
which first makes sure that no saga of the order is running.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.orders.models import (
        OrderClosure,
        OrderRef,
        OrderStatus,
        RecordedState,
        RepairRequest,
        StepOutcome,
    )
    from workflows.orders import activities as act
    from workflows.orders.policies import COMPENSATION, STEP


@workflow.defn(failure_exception_types=[ValidationError])
class OrderRepairWorkflow:
    @workflow.run
    async def run(self, request: RepairRequest) -> list[StepOutcome]:
        ref = OrderRef(order_id=request.order_id)
        state: RecordedState = await STEP.execute(act.recorded_state, ref)
        if state.status.terminal:
            return [StepOutcome(applied=False, detail=f"order already {state.status.value}")]
        payment = state.payment_request()
        undone = [
            await COMPENSATION.execute(act.refund_payment, payment),
            await COMPENSATION.execute(act.cancel_shipment, ref),
            await COMPENSATION.execute(act.void_payment, payment),
            await COMPENSATION.execute(act.release_stock, ref),
        ]
        closure = OrderClosure(
            order_id=request.order_id,
            status=OrderStatus.CANCELLED,
            reason=f"repaired: {request.reason}",
        )
        return [*undone, await STEP.execute(act.close_order, closure)]
