"""The example shop: its catalogue, its customers, and orders for them.

`./hybrid seed` loads the catalogue and the customers into PostgreSQL (tools/seed.py); the demo,
the benchmarks, the history recordings and the tests build their orders with `an_order`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from ipaddress import IPv4Address
from typing import NamedTuple

from domain.orders.models import (
    ClientContext,
    OrderItem,
    OrderRequest,
    PaymentMethod,
    ShippingAddress,
)


class Product(NamedTuple):
    sku: str
    description: str
    unit_price: Decimal
    on_hand: int
    max_per_order: int


class Customer(NamedTuple):
    customer_id: str
    name: str
    home_country: str


CATALOGUE = [
    Product("SKU-LAPTOP-14", "14-inch laptop", Decimal("1299.00"), 200, 3),
    Product("SKU-PHONE-X", "Smartphone X", Decimal("899.00"), 300, 3),
    Product("SKU-HEADPHONES", "Noise-cancelling headphones", Decimal("249.00"), 500, 5),
    Product("SKU-CHARGER-65W", "65 W USB-C charger", Decimal("49.00"), 2000, 10),
    Product("SKU-CABLE-USBC", "USB-C cable, 2 m", Decimal("12.50"), 5000, 20),
    Product("SKU-GIFTCARD-100", "Gift card, 100", Decimal("100.00"), 10000, 10),
    Product("SKU-MONITOR-27", "27-inch monitor", Decimal("329.00"), 150, 2),
    Product("SKU-KEYBOARD", "Mechanical keyboard", Decimal("119.00"), 400, 5),
]
PRICES = {product.sku: product.unit_price for product in CATALOGUE}

CUSTOMERS = [
    Customer("cust-alice", "Alice Martin", "FR"),
    Customer("cust-bob", "Bob Smith", "US"),
    Customer("cust-chen", "Chen Wei", "SG"),
    Customer("cust-dara", "Dara O'Neill", "IE"),
    Customer("cust-emil", "Emil Novak", "DE"),
    Customer("cust-fatima", "Fatima Zahra", "GB"),
    Customer("cust-gabriel", "Gabriel Costa", "BR"),
    Customer("cust-hana", "Hana Sato", "JP"),
]
# the examples' customer (examples/orders/): the demo and the tests never order for her, so the
# screen's verdict on an example (which weighs the customer's earlier orders) stays the same
# whatever ran before
DOCS_CUSTOMER = Customer("cust-ines", "Ines Laurent", "FR")
CITIES = {"FR": "Paris", "US": "Boston", "SG": "Singapore", "IE": "Dublin", "DE": "Berlin"}
DOCUMENTATION_IP = IPv4Address("192.0.2.10")  # TEST-NET-1: never a real client


def an_order(
    items: Mapping[str, int] | None = None,
    *,
    order_id: str | None = None,
    prefix: str = "ord",
    customer_id: str = "cust-alice",
    card_id: str = "card_visa_4242",
    country: str = "FR",
    placed_from: str | None = None,
    unit_price: Decimal | str | None = None,
    review_timeout: timedelta = timedelta(hours=24),
) -> OrderRequest:
    """An order of `items` (SKU -> quantity; one USB-C cable by default) shipped to `country`
    and placed from `placed_from` (`country` too, unless given). Each line costs `unit_price`,
    or else the catalogue's price (10.00 for a SKU the catalogue does not know). A fresh order
    id `<prefix>-<random>` unless one is given."""
    wanted = items or {"SKU-CABLE-USBC": 1}
    return OrderRequest(
        order_id=order_id or f"{prefix}-{uuid.uuid4().hex[:12]}",
        customer_id=customer_id,
        payment=PaymentMethod(card_id=card_id),
        items=[
            OrderItem(
                sku=sku,
                quantity=quantity,
                unit_price=Decimal(unit_price or PRICES.get(sku, Decimal("10.00"))),
            )
            for sku, quantity in wanted.items()
        ],
        currency="EUR",
        shipping_address=ShippingAddress(
            name=customer_id,
            line1="1 example street",
            city=CITIES.get(country, "Capital"),
            postal_code="10001",
            country=country,
        ),
        client=ClientContext(
            country=placed_from or country, ip=DOCUMENTATION_IP, device_id=f"dev-{card_id}"
        ),
        review_timeout=review_timeout,
    )
