"""The saga's activities against PostgreSQL: each is one transaction, idempotent on
(order id, step), and its compensation leaves a tombstone that stops a late attempt."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError

from activities.orders.inventory import InventoryActivities
from activities.orders.order import OrderActivities
from activities.orders.payments import PaymentActivities
from activities.orders.screening import CARD_HISTORY, ScreeningActivities
from activities.orders.shipping import ShippingActivities
from core.db.connections import open_pool
from core.settings import Settings
from domain.orders.examples import an_order
from domain.orders.invariants import check_order_invariants
from domain.orders.models import (
    MAX_AMOUNT,
    BusinessError,
    FraudDecision,
    OrderRef,
    OrderRequest,
    PaymentRequest,
    ReservationRequest,
    ScreeningRequest,
    ShipmentRequest,
)
from domain.orders.payment_provider import (
    ProviderBehaviour,
    ProviderTimeout,
    ProviderUnavailable,
    SimulatedPaymentProvider,
)
from domain.pipeline.features import MERCHANT_FEATURES
from domain.pipeline.scoring import CardHistory, order_features
from tests.support.orders import new_customer, new_sku, provider_operations, stock


@pytest.fixture
async def pool(stack, seeded, base_settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(base_settings, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def dsn(base_settings: Settings) -> str:
    return base_settings.postgres_dsn


async def recorded(pool: AsyncConnectionPool, order: OrderRequest) -> OrderRequest:
    await OrderActivities(pool).record_order(order)
    return order


def payment_of(order: OrderRequest) -> PaymentRequest:
    return PaymentRequest(
        order_id=order.order_id,
        card_id=order.payment.card_id,
        amount=order.total,
        currency=order.currency,
    )


async def test_record_order_is_idempotent(pool, dsn, settings: Settings) -> None:
    order = an_order({new_sku(dsn): 1})
    first = await OrderActivities(pool).record_order(order)
    second = await OrderActivities(pool).record_order(order)
    assert (first.applied, second.applied) == (True, False)
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "select count(*) from order_items where order_id = %s", (order.order_id,)
        ).fetchone() == (1,)


async def test_a_total_the_database_cannot_hold_fails_at_once_and_writes_nothing(pool, dsn) -> None:
    """Each line valid, the total beyond numeric(12, 2): record_order retried for 9 min 47 s
    before the database's refusal was classified. The model refuses such an order now; built
    past it, the database's refusal is final at the first attempt."""
    order = an_order({new_sku(dsn): 1, new_sku(dsn): 1})
    largest = [item.model_copy(update={"unit_price": MAX_AMOUNT}) for item in order.items]
    overflowing = order.model_copy(update={"items": largest})  # model_copy does not validate
    with pytest.raises(ApplicationError) as error:
        await OrderActivities(pool).record_order(overflowing)
    assert (error.value.type, error.value.non_retryable) == (BusinessError.INVALID_DATA, True)
    assert "numeric field overflow" in error.value.message
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "select count(*) from orders where order_id = %s", (order.order_id,)
        ).fetchone() == (0,)


async def test_reserve_twice_reserves_once(pool, dsn) -> None:
    sku = new_sku(dsn, on_hand=10)
    order = await recorded(pool, an_order({sku: 3}))
    inventory = InventoryActivities(pool)
    request = ReservationRequest(order_id=order.order_id, items=order.items)
    assert (await inventory.reserve_stock(request)).applied
    assert not (await inventory.reserve_stock(request)).applied
    assert stock(dsn, sku) == (10, 3)
    assert (await inventory.release_stock(OrderRef(order_id=order.order_id))).applied
    assert not (await inventory.release_stock(OrderRef(order_id=order.order_id))).applied
    assert stock(dsn, sku) == (10, 0)


async def test_release_before_reserve_leaves_a_tombstone(pool, dsn) -> None:
    sku = new_sku(dsn, on_hand=10)
    order = await recorded(pool, an_order({sku: 2}))
    inventory = InventoryActivities(pool)
    released = await inventory.release_stock(OrderRef(order_id=order.order_id))
    assert released.detail == "nothing was reserved"
    late = await inventory.reserve_stock(
        ReservationRequest(order_id=order.order_id, items=order.items)
    )
    assert late.applied is False
    assert late.detail == "reservation already RELEASED"
    assert stock(dsn, sku) == (10, 0)


@pytest.mark.parametrize(
    ("on_hand", "max_per_order", "quantity", "error_type", "message"),
    [
        (2, 5, 3, "OutOfStock", "3 wanted, 2 available"),
        (50, 5, 6, "InvalidQuantity", "quantity 6 is over the limit of 5"),
    ],
)
async def test_reserve_business_errors_are_typed_and_final(
    pool, dsn, on_hand, max_per_order, quantity, error_type, message
) -> None:
    sku = new_sku(dsn, on_hand=on_hand, max_per_order=max_per_order)
    order = await recorded(pool, an_order({sku: quantity}))
    with pytest.raises(ApplicationError) as error:
        await InventoryActivities(pool).reserve_stock(
            ReservationRequest(order_id=order.order_id, items=order.items)
        )
    assert (error.value.type, error.value.non_retryable) == (error_type, True)
    assert message in error.value.message
    assert stock(dsn, sku) == (on_hand, 0)


async def test_unknown_sku_is_a_business_error(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1, "SKU-DOES-NOT-EXIST": 1}))
    with pytest.raises(ApplicationError) as error:
        await InventoryActivities(pool).reserve_stock(
            ReservationRequest(order_id=order.order_id, items=order.items)
        )
    assert error.value.type == "UnknownSku"
    assert "SKU-DOES-NOT-EXIST" in error.value.message


async def test_lost_provider_answer_is_retried_without_a_second_charge(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}))
    always_lost = SimulatedPaymentProvider(pool, ProviderBehaviour(timeout_rate=1.0))
    with pytest.raises(ProviderTimeout):
        await PaymentActivities(pool, always_lost).authorize_payment(payment_of(order))
    payments = PaymentActivities(pool, SimulatedPaymentProvider(pool))
    assert (await payments.authorize_payment(payment_of(order))).applied
    with pytest.raises(ProviderTimeout):
        await PaymentActivities(pool, always_lost).capture_payment(payment_of(order))
    assert (await payments.capture_payment(payment_of(order))).applied
    assert not (await payments.capture_payment(payment_of(order))).applied
    assert provider_operations(dsn, order.order_id) == [
        ("authorize", "approved"),
        ("capture", "approved"),
    ]


async def test_transient_provider_error_changes_nothing(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}))
    down = SimulatedPaymentProvider(pool, ProviderBehaviour(transient_error_rate=1.0))
    with pytest.raises(ProviderUnavailable):
        await PaymentActivities(pool, down).authorize_payment(payment_of(order))
    assert provider_operations(dsn, order.order_id) == []


async def test_void_undoes_an_authorization_whose_answer_was_lost(pool, dsn) -> None:
    # a worker died after the provider authorized, before the shop recorded it
    order = await recorded(pool, an_order({new_sku(dsn): 1}))
    provider = SimulatedPaymentProvider(pool)
    await provider.authorize(order.order_id, order.payment.card_id, order.total)
    payments = PaymentActivities(pool, provider)
    voided = await payments.void_payment(payment_of(order))
    assert voided.applied
    late = await payments.authorize_payment(payment_of(order))
    assert (late.applied, late.detail) == (False, "payment already VOIDED")
    assert provider_operations(dsn, order.order_id) == [
        ("authorize", "approved"),
        ("void", "approved"),
    ]


async def test_declined_card_is_recorded_and_final(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}, card_id="card_declined_0002"))
    payments = PaymentActivities(pool, SimulatedPaymentProvider(pool))
    with pytest.raises(ApplicationError) as error:
        await payments.authorize_payment(payment_of(order))
    assert (error.value.type, error.value.non_retryable) == ("CardDeclined", True)
    assert not (await payments.void_payment(payment_of(order))).applied
    assert provider_operations(dsn, order.order_id) == [("authorize", "declined")]


async def test_refund_then_void_after_capture(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}))
    payments = PaymentActivities(pool, SimulatedPaymentProvider(pool))
    await payments.authorize_payment(payment_of(order))
    await payments.capture_payment(payment_of(order))
    assert (await payments.refund_payment(payment_of(order))).applied
    assert not (await payments.refund_payment(payment_of(order))).applied
    assert not (await payments.void_payment(payment_of(order))).applied
    assert provider_operations(dsn, order.order_id) == [
        ("authorize", "approved"),
        ("capture", "approved"),
        ("refund", "approved"),
    ]


async def test_an_order_of_several_lines_is_recorded_reserved_and_consumed_once(
    pool, dsn, settings: Settings
) -> None:
    skus = {new_sku(dsn, on_hand=10): 1, new_sku(dsn, on_hand=10): 2, new_sku(dsn, on_hand=10): 3}
    order = await recorded(pool, an_order(skus))
    with psycopg.connect(dsn) as conn:
        lines = conn.execute(
            "select line, sku, quantity from order_items where order_id = %s order by line",
            (order.order_id,),
        ).fetchall()
    assert lines == [(line, sku, n) for line, (sku, n) in enumerate(skus.items(), start=1)]
    await InventoryActivities(pool).reserve_stock(
        ReservationRequest(order_id=order.order_id, items=order.items)
    )
    assert [stock(dsn, sku) for sku in skus] == [(10, 1), (10, 2), (10, 3)]
    orders = OrderActivities(pool)
    first = await orders.complete_order(OrderRef(order_id=order.order_id))
    retried = await orders.complete_order(OrderRef(order_id=order.order_id))
    assert (first.applied, retried.applied) == (True, False)
    assert [stock(dsn, sku) for sku in skus] == [(9, 0), (8, 0), (7, 0)]


async def test_create_shipment_twice_ships_once(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}))
    shipping = ShippingActivities(pool)
    request = ShipmentRequest(
        order_id=order.order_id, address=order.shipping_address, items=order.items
    )
    first = await shipping.create_shipment(request)
    retried = await shipping.create_shipment(request)
    assert (first.applied, retried.applied) == (True, False)
    assert retried.detail == "shipment already CREATED"
    with psycopg.connect(dsn) as conn:
        shipment = conn.execute(
            "select carrier, tracking_no from shipments where order_id = %s", (order.order_id,)
        ).fetchone()
    assert shipment is not None
    carrier, tracking = shipment
    assert first.detail == f"{carrier} {tracking}"
    assert tracking.startswith(carrier[:3].upper())


async def test_shipment_cancel_before_create_is_a_tombstone(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}))
    shipping = ShippingActivities(pool)
    assert not (await shipping.cancel_shipment(OrderRef(order_id=order.order_id))).applied
    request = ShipmentRequest(
        order_id=order.order_id, address=order.shipping_address, items=order.items
    )
    assert not (await shipping.create_shipment(request)).applied


async def test_shipping_to_an_unserved_country_is_a_business_error(pool, dsn) -> None:
    order = await recorded(pool, an_order({new_sku(dsn): 1}, country="AQ"))
    with pytest.raises(ApplicationError) as error:
        await ShippingActivities(pool).create_shipment(
            ShipmentRequest(
                order_id=order.order_id, address=order.shipping_address, items=order.items
            )
        )
    assert error.value.type == "ShippingUnavailable"


async def test_fraud_screen_rules(pool, dsn, settings: Settings) -> None:
    screen = ScreeningActivities(pool, settings).screen_order
    customer = new_customer(dsn, home_country="FR")
    card = f"card_screen_{random.randrange(10**9)}"
    order = await recorded(pool, an_order({new_sku(dsn): 1}, card_id=card, customer_id=customer))

    def request(**changes) -> ScreeningRequest:
        base = dict(
            order_id=order.order_id,
            customer_id=customer,
            card_id=card,
            amount=order.total,
            client_country="FR",
            ship_country="FR",
        )
        return ScreeningRequest(**{**base, **changes})

    assert (await screen(request())).decision is FraudDecision.APPROVE
    assert (await screen(request(amount=9000))).decision is FraudDecision.REVIEW
    unknown = await screen(request(customer_id="cust-nobody", amount=2000))
    assert unknown.reasons == ["unknown customer ordering more than 1000"]
    far = await screen(request(client_country="NG", ship_country="NG"))
    assert far.decision is FraudDecision.REVIEW
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into fraud_alerts (alert_id, card_id, customer_id, pattern, event_time)"
            " values (%s, %s, %s, 'card_testing', now())",
            (f"alert-{card}", card, customer),
        )
    rejected = await screen(request())
    assert rejected.decision is FraudDecision.REJECT
    assert rejected.reasons == ["open fraud alert on the card: card_testing"]
    assert check_order_invariants(dsn, [order.order_id]) == []


async def test_the_champions_features_aggregate_the_cards_earlier_orders(pool, dsn) -> None:
    card, now = f"card_features_{uuid.uuid4().hex[:8]}", datetime(2026, 6, 1, 12, tzinfo=UTC)
    earlier = [  # (total, client country, age): the last is outside every window but history
        (10, "DE", timedelta(minutes=2)),
        (20, "FR", timedelta(minutes=30)),
        (30, "DE", timedelta(hours=5)),
        (40, "US", timedelta(days=2)),
    ]
    with psycopg.connect(dsn) as conn:
        for total, country, age in [*earlier, (99, "NL", timedelta(minutes=-1))]:  # a later one
            conn.execute(
                "insert into orders (order_id, customer_id, card_id, currency, total,"
                " client_country, ship_country, created_at)"
                " values (%s, 'cust_features', %s, 'EUR', %s, %s, %s, %s)",
                (f"{card}-{total}", card, total, country, country, now - age),
            )
        for alert, age in (("recent", timedelta(hours=1)), ("old", timedelta(days=2))):
            conn.execute(
                "insert into fraud_alerts (alert_id, card_id, pattern, event_time)"
                " values (%s, %s, 'velocity_burst', %s)",
                (f"alert-{card}-{alert}", card, now - age),
            )

    async def card_history(card_id: str) -> CardHistory:
        async with pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(CardHistory))
            await cursor.execute(CARD_HISTORY, {"now": now, "card": card_id, "order": "new"})
            history = await cursor.fetchone()
        assert history is not None
        return history

    features = order_features(50.0, "IT", now, await card_history(card)).iloc[0].to_dict()

    assert features == pytest.approx(
        {
            "amount": 50.0,
            "txn_count_5m": 2,
            "txn_count_1h": 3,
            "txn_count_24h": 4,
            "amount_sum_1h": 80.0,
            "amount_avg_24h": 27.5,  # 10, 20, 30 and this order's 50
            "amount_max_24h": 50.0,
            "amount_std_24h": 218.75**0.5,
            "distinct_countries_24h": 3,  # DE, FR, IT
            "distinct_merchants_24h": 1,
            "seconds_since_prev": 120.0,
            "amount_vs_history": 2.0,  # 50 / mean(10, 20, 30, 40)
            "txn_count_7d": 5,  # the order of two days ago too
            "txn_count_30d": 5,
            "amount_avg_7d": 30.0,
            "amount_avg_30d": 30.0,
            "amount_vs_avg_24h": 50 / 27.5,
            "amount_vs_avg_7d": 50 / 30,
            "amount_vs_avg_30d": 50 / 30,
            "hour_of_day": 12,
            "is_night": 0,
            "is_weekend": 0,  # a Monday
            **dict.fromkeys(MERCHANT_FEATURES, 0),  # the shop has no merchant history
            "cep_alerts_24h": 1,  # the alert of an hour ago, not the one of two days ago
        }
    )
    first = order_features(50.0, "IT", now, await card_history(f"{card}-new")).iloc[0]
    assert (first["txn_count_24h"], first["amount_std_24h"], first["cep_alerts_24h"]) == (1, 0, 0)
    assert (first["seconds_since_prev"], first["amount_vs_history"]) == (-1.0, 1.0)
