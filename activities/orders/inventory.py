"""Stock: reserve for an order (compensation: release), consumed when the order completes."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from activities.contract import implements
from activities.orders.saga_log import append_event, business_error
from domain.orders.models import BusinessError, OrderRef, ReservationRequest, StepOutcome
from workflows.orders import activities as declared

# The order's lines and the stock they hold, in one statement for any number of SKUs.
RESERVE_LINES = """
    with lines as (
        insert into reservation_lines (order_id, sku, quantity)
        select %(order)s, sku, quantity from unnest(%(skus)s::text[], %(quantities)s::int[])
            as wanted (sku, quantity)
        returning sku, quantity
    )
    update inventory i set reserved = i.reserved + lines.quantity
    from lines where i.sku = lines.sku
"""


class InventoryActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @implements(declared.reserve_stock)
    async def reserve_stock(self, request: ReservationRequest) -> StepOutcome:
        wanted = {item.sku: item.quantity for item in request.items}
        async with self.pool.connection() as conn, conn.transaction():
            # claimed first: a retry, or a release that came first, finds the order's reservation
            # (a business error below rolls the claim back)
            claimed = await (
                await conn.execute(
                    "insert into reservations (order_id, status) values (%s, 'ACTIVE')"
                    " on conflict (order_id) do nothing returning order_id",
                    (request.order_id,),
                )
            ).fetchone()
            if claimed is None:
                existing = await (
                    await conn.execute(
                        "select status from reservations where order_id = %s", (request.order_id,)
                    )
                ).fetchone()
                status = existing[0] if existing else "claimed"
                return StepOutcome(applied=False, detail=f"reservation already {status}")
            # lock the SKUs in a fixed order so concurrent orders never deadlock
            stock = {
                sku: (on_hand, reserved, max_per_order)
                for sku, on_hand, reserved, max_per_order in await (
                    await conn.execute(
                        "select sku, on_hand, reserved, max_per_order from inventory"
                        " where sku = any(%s) order by sku for update",
                        (sorted(wanted),),
                    )
                ).fetchall()
            }
            unknown = sorted(set(wanted) - set(stock))
            if unknown:
                raise business_error(
                    BusinessError.UNKNOWN_SKU, f"unknown SKU: {', '.join(unknown)}"
                )
            for sku, quantity in sorted(wanted.items()):
                on_hand, reserved, max_per_order = stock[sku]
                if quantity > max_per_order:
                    raise business_error(
                        BusinessError.INVALID_QUANTITY,
                        f"{sku}: quantity {quantity} is over the limit of {max_per_order}",
                    )
                if on_hand - reserved < quantity:
                    raise business_error(
                        BusinessError.OUT_OF_STOCK,
                        f"{sku}: {quantity} wanted, {on_hand - reserved} available",
                    )
            await conn.execute(
                RESERVE_LINES,
                {"order": request.order_id, "skus": list(wanted), "quantities": [*wanted.values()]},
            )
            await append_event(conn, request.order_id, "reserve_stock", "done", items=wanted)
        return StepOutcome(applied=True, detail=f"reserved {sum(wanted.values())} units")

    @implements(declared.release_stock)
    async def release_stock(self, order: OrderRef) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            existing = await (
                await conn.execute(
                    "select status from reservations where order_id = %s for update",
                    (order.order_id,),
                )
            ).fetchone()
            if existing is None:
                # tombstone: a late attempt of reserve_stock must not reserve any more
                await conn.execute(
                    "insert into reservations (order_id, status) values (%s, 'RELEASED')",
                    (order.order_id,),
                )
                await append_event(conn, order.order_id, "release_stock", "nothing_reserved")
                return StepOutcome(applied=False, detail="nothing was reserved")
            if existing[0] != "ACTIVE":
                return StepOutcome(applied=False, detail=f"reservation already {existing[0]}")
            await conn.execute(
                "update inventory i set reserved = i.reserved - l.quantity"
                " from reservation_lines l where l.order_id = %s and l.sku = i.sku",
                (order.order_id,),
            )
            await conn.execute(
                "update reservations set status = 'RELEASED', updated_at = now()"
                " where order_id = %s",
                (order.order_id,),
            )
            await append_event(conn, order.order_id, "release_stock", "done")
        return StepOutcome(applied=True, detail="reservation released")
