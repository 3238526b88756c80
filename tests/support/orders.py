"""Builders for order tests on the real stack: fresh SKUs, orders, and a pool."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg


def new_sku(dsn: str, on_hand: int = 10, max_per_order: int = 5, price: str = "10.00") -> str:
    sku = f"SKU-T-{uuid.uuid4().hex[:8].upper()}"
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into inventory (sku, description, unit_price, on_hand, max_per_order)"
            " values (%s, 'test item', %s, %s, %s)",
            (sku, Decimal(price), on_hand, max_per_order),
        )
    return sku


def new_customer(dsn: str, home_country: str = "FR") -> str:
    customer_id = f"cust-t-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into customers (customer_id, name, home_country) values (%s, 'Test', %s)",
            (customer_id, home_country),
        )
    return customer_id


def stock(dsn: str, sku: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select on_hand, reserved from inventory where sku = %s", (sku,))
        return row.fetchone()  # type: ignore[return-value]


def provider_operations(dsn: str, order_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select operation, outcome from provider_operations where order_id = %s"
            " order by created_at",
            (order_id,),
        ).fetchall()
