"""Shipments: create one for an order (compensation: cancel it)."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.saga_log import append_event, business_error
from app.models.orders import BusinessError, OrderRef, ShipmentRequest, StepOutcome


class ShippingActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @activity.defn
    async def check_shipping_zone(self, request: ShipmentRequest) -> StepOutcome:
        """Fail fast, before stock or money is held, when no carrier serves the country."""
        async with self.pool.connection() as conn:
            carrier = await self._carrier(conn, request.address.country)
        return StepOutcome(applied=False, detail=f"{carrier} ships to {request.address.country}")

    @staticmethod
    async def _carrier(conn: AsyncConnection, country: str) -> str:
        zone = await (
            await conn.execute("select carrier from shipping_zones where country = %s", (country,))
        ).fetchone()
        if zone is None:
            raise business_error(
                BusinessError.SHIPPING_UNAVAILABLE, f"no carrier ships to {country}"
            )
        return zone[0]

    @activity.defn
    async def create_shipment(self, request: ShipmentRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            existing = await (
                await conn.execute(
                    "select status, tracking_no from shipments where order_id = %s for update",
                    (request.order_id,),
                )
            ).fetchone()
            if existing:
                return StepOutcome(applied=False, detail=f"shipment already {existing[0]}")
            carrier = await self._carrier(conn, request.address.country)
            tracking = f"{carrier[:3].upper()}{uuid.uuid4().hex[:12].upper()}"
            await conn.execute(
                "insert into shipments (order_id, status, carrier, tracking_no)"
                " values (%s, 'CREATED', %s, %s)",
                (request.order_id, carrier, tracking),
            )
            await append_event(
                conn,
                request.order_id,
                "create_shipment",
                "done",
                carrier=carrier,
                tracking=tracking,
            )
        return StepOutcome(applied=True, detail=f"{carrier} {tracking}")

    @activity.defn
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
