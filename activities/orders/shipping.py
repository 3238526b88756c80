"""Shipments: create one for an order (compensation: cancel it)."""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from activities.orders.saga_log import append_event, business_error
from domain.orders.models import BusinessError, OrderRef, ShipmentRequest, StepOutcome
from workflows.orders import activities as declared

# A shipment with the carrier of the destination's zone, created once: nothing is inserted when
# the order has one already (or its cancellation's tombstone) or when no carrier serves the zone.
CREATE_SHIPMENT = """
    insert into shipments (order_id, status, carrier, tracking_no)
    select %(order)s, 'CREATED', carrier, upper(left(carrier, 3)) || %(tracking)s
    from shipping_zones where country = %(country)s
    on conflict (order_id) do nothing
    returning carrier, tracking_no
"""


class ShippingActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @implements(declared.check_shipping_zone)
    async def check_shipping_zone(self, request: ShipmentRequest) -> StepOutcome:
        """Fail fast, before stock or money is held, when no carrier serves the country."""
        country = request.address.country
        async with self.pool.connection() as conn:
            zone = await (
                await conn.execute(
                    "select carrier from shipping_zones where country = %s", (country,)
                )
            ).fetchone()
        if zone is None:
            raise no_carrier(country)
        return StepOutcome(applied=False, detail=f"{zone[0]} ships to {country}")

    @implements(declared.create_shipment)
    async def create_shipment(self, request: ShipmentRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            created = await (
                await conn.execute(
                    CREATE_SHIPMENT,
                    {
                        "order": request.order_id,
                        "country": request.address.country,
                        "tracking": uuid.uuid4().hex[:12].upper(),
                    },
                )
            ).fetchone()
            if created is None:
                existing = await (
                    await conn.execute(
                        "select status from shipments where order_id = %s", (request.order_id,)
                    )
                ).fetchone()
                if existing is None:
                    raise no_carrier(request.address.country)
                # a retry, or a cancellation that came first
                return StepOutcome(applied=False, detail=f"shipment already {existing[0]}")
            carrier, tracking = created
            await append_event(
                conn,
                request.order_id,
                "create_shipment",
                "done",
                carrier=carrier,
                tracking=tracking,
            )
        return StepOutcome(applied=True, detail=f"{carrier} {tracking}")

    @implements(declared.cancel_shipment)
    async def cancel_shipment(self, order: OrderRef) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            existing = await (
                await conn.execute(
                    "select status from shipments where order_id = %s for update",
                    (order.order_id,),
                )
            ).fetchone()
            if existing is None:
                # tombstone: a late attempt of create_shipment must not ship
                await conn.execute(
                    "insert into shipments (order_id, status) values (%s, 'CANCELLED')",
                    (order.order_id,),
                )
                await append_event(conn, order.order_id, "cancel_shipment", "nothing_shipped")
                return StepOutcome(applied=False, detail="no shipment existed")
            if existing[0] == "CANCELLED":
                return StepOutcome(applied=False, detail="shipment already CANCELLED")
            await conn.execute(
                "update shipments set status = 'CANCELLED', updated_at = now() where order_id = %s",
                (order.order_id,),
            )
            await append_event(conn, order.order_id, "cancel_shipment", "done")
        return StepOutcome(applied=True, detail="shipment cancelled")


def no_carrier(country: str) -> ApplicationError:
    return business_error(BusinessError.SHIPPING_UNAVAILABLE, f"no carrier ships to {country}")
