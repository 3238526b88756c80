"""Demo data: stock and customers. Idempotent: re-seeding restocks up to the seed levels and
keeps every order, payment and alert."""

from __future__ import annotations

from decimal import Decimal

import psycopg

INVENTORY: list[tuple[str, str, Decimal, int, int]] = [
    # sku, description, unit price, on hand, max per order
    ("SKU-LAPTOP-14", "14-inch laptop", Decimal("1299.00"), 200, 3),
    ("SKU-PHONE-X", "Smartphone X", Decimal("899.00"), 300, 3),
    ("SKU-HEADPHONES", "Noise-cancelling headphones", Decimal("249.00"), 500, 5),
    ("SKU-CHARGER-65W", "65 W USB-C charger", Decimal("49.00"), 2000, 10),
    ("SKU-CABLE-USBC", "USB-C cable, 2 m", Decimal("12.50"), 5000, 20),
    ("SKU-GIFTCARD-100", "Gift card, 100", Decimal("100.00"), 10000, 10),
    ("SKU-MONITOR-27", "27-inch monitor", Decimal("329.00"), 150, 2),
    ("SKU-KEYBOARD", "Mechanical keyboard", Decimal("119.00"), 400, 5),
]

CUSTOMERS: list[tuple[str, str, str]] = [
    ("cust-alice", "Alice Martin", "FR"),
    ("cust-bob", "Bob Smith", "US"),
    ("cust-chen", "Chen Wei", "SG"),
    ("cust-dara", "Dara O'Neill", "IE"),
    ("cust-emil", "Emil Novak", "DE"),
    ("cust-fatima", "Fatima Zahra", "GB"),
    ("cust-gabriel", "Gabriel Costa", "BR"),
    ("cust-hana", "Hana Sato", "JP"),
]


def seed(dsn: str) -> None:
    with psycopg.connect(dsn) as conn, conn.transaction():
        for sku, description, price, on_hand, max_per_order in INVENTORY:
            conn.execute(
                "insert into inventory (sku, description, unit_price, on_hand, max_per_order)"
                " values (%s, %s, %s, %s, %s)"
                " on conflict (sku) do update set on_hand = greatest(inventory.on_hand,"
                " excluded.on_hand), max_per_order = excluded.max_per_order",
                (sku, description, price, on_hand, max_per_order),
            )
        for customer_id, name, country in CUSTOMERS:
            conn.execute(
                "insert into customers (customer_id, name, home_country) values (%s, %s, %s)"
                " on conflict (customer_id) do nothing",
                (customer_id, name, country),
            )
