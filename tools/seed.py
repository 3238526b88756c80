"""Demo data: the example shop's catalogue and customers (domain/orders/examples.py) in
PostgreSQL. Idempotent: re-seeding restocks up to the seed levels and keeps every order, payment
and alert."""

from __future__ import annotations

from core.db.connections import connect
from domain.orders.examples import CATALOGUE, CUSTOMERS, DOCS_CUSTOMER


def seed(dsn: str) -> None:
    with connect(dsn) as conn, conn.transaction():
        for product in CATALOGUE:
            conn.execute(
                "insert into inventory (sku, description, unit_price, on_hand, max_per_order)"
                " values (%s, %s, %s, %s, %s)"
                " on conflict (sku) do update set on_hand = greatest(inventory.on_hand,"
                " excluded.on_hand), max_per_order = excluded.max_per_order",
                tuple(product),
            )
        for customer in [*CUSTOMERS, DOCS_CUSTOMER]:
            conn.execute(
                "insert into customers (customer_id, name, home_country) values (%s, %s, %s)"
                " on conflict (customer_id) do nothing",
                tuple(customer),
            )
