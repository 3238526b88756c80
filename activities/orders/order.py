"""The order record: create it with its lines, complete it, or close it in another terminal
state."""

from __future__ import annotations

from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from activities.orders.saga_log import append_event
from domain.orders.models import (
    OrderClosure,
    OrderRef,
    OrderRequest,
    RecordedOrder,
    RecordedState,
    RefusedMessage,
    StepOutcome,
)
from workflows.orders import activities as declared

# An order and its lines, numbered from 1, recorded once: a retry inserts nothing.
RECORD_ORDER = """
    with recorded as (
        insert into orders (order_id, customer_id, card_id, currency, total, client_country,
                            client_ip, device_id, ship_country, run_id)
        values (%(order)s, %(customer)s, %(card)s, %(currency)s, %(total)s, %(client_country)s,
                %(client_ip)s, %(device)s, %(ship_country)s, %(run)s)
        on conflict (order_id) do nothing
        returning order_id
    )
    insert into order_items (order_id, line, sku, quantity, unit_price)
    select order_id, line, sku, quantity, unit_price
    from recorded,
         unnest(%(skus)s::text[], %(quantities)s::int[], %(unit_prices)s::numeric[])
             with ordinality as item (sku, quantity, unit_price, line)
"""
RECORDED = """
    select status, status_reason, fraud_decision, run_id as recorded_by_run
    from orders where order_id = %s
"""
# Completing an order consumes its reserved stock only once (a retry finds the reservation
# CONSUMED and the order no longer PENDING).
COMPLETE_ORDER = """
    with consumed as (
        update reservations set status = 'CONSUMED', updated_at = now()
        where order_id = %(order)s and status = 'ACTIVE'
        returning order_id
    ), stock as (
        update inventory i set on_hand = i.on_hand - l.quantity, reserved = i.reserved - l.quantity
        from reservation_lines l join consumed using (order_id)
        where l.sku = i.sku
    )
    update orders set status = 'COMPLETED', status_reason = null, updated_at = now()
    where order_id = %(order)s and status = 'PENDING'
"""


class OrderActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @implements(declared.record_order)
    async def record_order(self, request: OrderRequest) -> RecordedOrder:
        async with self.pool.connection() as conn, conn.transaction():
            lines = await conn.execute(
                RECORD_ORDER,
                {
                    "order": request.order_id,
                    "customer": request.customer_id,
                    "card": request.payment.card_id,
                    "currency": request.currency,
                    "total": request.total,
                    "client_country": request.client.country,
                    "client_ip": str(request.client.ip),
                    "device": request.client.device_id,
                    "ship_country": request.shipping_address.country,
                    "skus": [item.sku for item in request.items],
                    "quantities": [item.quantity for item in request.items],
                    "unit_prices": [item.unit_price for item in request.items],
                    # None outside a workflow (the activities' own tests call them directly)
                    "run": activity.info().workflow_run_id if activity.in_activity() else None,
                },
            )
            if lines.rowcount == 0:  # an order has at least one line: it was there before
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(RECORDED, (request.order_id,))
                recorded = await cursor.fetchone()
                if recorded is None:  # inserted by no one, yet there: the row was deleted
                    raise RuntimeError(f"order {request.order_id} vanished while recorded")
                return RecordedOrder.model_validate(
                    recorded | {"applied": False, "detail": "order already recorded"}
                )
            await append_event(conn, request.order_id, "record_order", "done", total=request.total)
        return RecordedOrder(applied=True, detail=f"order recorded, total {request.total}")

    @implements(declared.recorded_state)
    async def recorded_state(self, order: OrderRef) -> RecordedState:
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(RecordedState))
            await cursor.execute(
                "select order_id, status, card_id, total, currency from orders where order_id = %s",
                (order.order_id,),
            )
            state = await cursor.fetchone()
        if state is None:
            raise ApplicationError(
                f"there is no order {order.order_id}", type="UnknownOrder", non_retryable=True
            )
        return state

    @implements(declared.complete_order)
    async def complete_order(self, order: OrderRef) -> StepOutcome:
        """Consume the reserved stock and mark the order COMPLETED, in one transaction."""
        async with self.pool.connection() as conn, conn.transaction():
            updated = await conn.execute(COMPLETE_ORDER, {"order": order.order_id})
            await append_event(conn, order.order_id, "complete_order", "done")
        return StepOutcome(applied=updated.rowcount == 1, detail="stock consumed, order completed")

    @implements(declared.close_order)
    async def close_order(self, closure: OrderClosure) -> StepOutcome:
        """Record a terminal state other than COMPLETED (rejected, cancelled, failed)."""
        async with self.pool.connection() as conn, conn.transaction():
            updated = await conn.execute(
                "update orders set status = %s, status_reason = %s, updated_at = now()"
                " where order_id = %s and status = 'PENDING'",
                (closure.status.value, closure.reason, closure.order_id),
            )
            await append_event(
                conn, closure.order_id, "close_order", closure.status.value, reason=closure.reason
            )
        return StepOutcome(applied=updated.rowcount == 1, detail=f"order {closure.status.value}")

    @implements(declared.record_refusal)
    async def record_refusal(self, refused: RefusedMessage) -> StepOutcome:
        async with self.pool.connection() as conn:
            await append_event(
                conn,
                refused.order_id,
                f"{refused.message}#{refused.sequence}",
                "refused",
                reason=refused.reason,
            )
        return StepOutcome(applied=True, detail=f"{refused.message} refused: {refused.reason}")
