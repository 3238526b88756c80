"""The order record: create it, screen it for fraud, and close it in a terminal state."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.orders.saga_log import append_event
from core.settings import Settings
from domain.orders.models import (
    FraudDecision,
    OrderClosure,
    OrderRef,
    OrderRequest,
    Screening,
    ScreeningRequest,
    StepOutcome,
)
from domain.pipeline.scoring import CardHistory, fraud_scores, load_model, order_features

# Fraud-screen rules over PostgreSQL state: the streaming alerts (Flink CEP) land in
# fraud_alerts. The registry's champion model scores each order as well: a high score sends it
# to review.
LARGE_ORDER = Decimal("5000")
NEW_CUSTOMER_LIMIT = Decimal("1000")
UNUSUAL_AMOUNT_FACTOR = Decimal("5")
HISTORY_NEEDED = 3
# What the screen reads, in one query. For the rules: the card's open alerts (their patterns),
# the open alerts on the customer's other cards, the customer's home country (none for an
# unknown customer) and their completed orders (count, average total). Then the registry's
# champion (none without one) and the database's clock, which the model's features are as of.
SCREENING_FACTS = """
    select
        (select coalesce(array_agg(distinct pattern order by pattern), '{}') from fraud_alerts
          where card_id = %(card)s and status = 'OPEN'),
        (select count(*) from fraud_alerts
          where customer_id = %(customer)s and card_id <> %(card)s and status = 'OPEN'),
        (select home_country from customers where customer_id = %(customer)s),
        history.completed_orders,
        history.average_total,
        champion.version_id,
        champion.artifact_path,
        now()
    from (
        select count(*), coalesce(avg(total), 0) from orders
        where customer_id = %(customer)s and status = 'COMPLETED' and order_id <> %(order)s
    ) as history (completed_orders, average_total)
    left join (
        select v.version_id, v.artifact_path from model_aliases a
        join model_versions v using (version_id)
        where a.model_name = %(model)s and a.alias = 'champion'
    ) as champion on true
"""
# The card's earlier orders as the champion's features need them (domain.pipeline.scoring.CardHistory),
# aggregated here rather than fetched: a busy card costs no more to screen than a new one.
CARD_HISTORY = """
    with earlier as (
        select total::float8 as total, client_country, created_at, %(now)s - created_at as age
        from orders
        where card_id = %(card)s and order_id <> %(order)s and created_at <= %(now)s
    )
    select
        count(*) filter (where age <= interval '5 minutes'),
        count(*) filter (where age <= interval '1 hour'),
        coalesce(sum(total) filter (where age <= interval '1 hour'), 0),
        count(*) filter (where age <= interval '24 hours'),
        coalesce(sum(total) filter (where age <= interval '24 hours'), 0),
        coalesce(sum(total * total) filter (where age <= interval '24 hours'), 0),
        max(total) filter (where age <= interval '24 hours'),
        coalesce(array_agg(distinct client_country) filter (where age <= interval '24 hours'),
                 '{}'),
        avg(total),
        max(created_at)
    from earlier
"""

# An order and its lines, numbered from 1, recorded once: a retry inserts nothing.
RECORD_ORDER = """
    with recorded as (
        insert into orders (order_id, customer_id, card_id, currency, total, client_country,
                            client_ip, device_id, ship_country)
        values (%(order)s, %(customer)s, %(card)s, %(currency)s, %(total)s, %(client_country)s,
                %(client_ip)s, %(device)s, %(ship_country)s)
        on conflict (order_id) do nothing
        returning order_id
    )
    insert into order_items (order_id, line, sku, quantity, unit_price)
    select order_id, line, sku, quantity, unit_price
    from recorded,
         unnest(%(skus)s::text[], %(quantities)s::int[], %(unit_prices)s::numeric[])
             with ordinality as item (sku, quantity, unit_price, line)
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
    def __init__(self, pool: AsyncConnectionPool, settings: Settings):
        self.pool = pool
        self.model_name = settings.fraud_model_name
        self.review_score = settings.fraud_model_review_score

    @activity.defn
    async def record_order(self, request: OrderRequest) -> StepOutcome:
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
                },
            )
            if lines.rowcount == 0:  # an order has at least one line
                return StepOutcome(applied=False, detail="order already recorded")
            await append_event(conn, request.order_id, "record_order", "done", total=request.total)
        return StepOutcome(applied=True, detail=f"order recorded, total {request.total}")

    @activity.defn
    async def screen_order(self, request: ScreeningRequest) -> Screening:
        async with self.pool.connection() as conn, conn.transaction():
            facts = await (
                await conn.execute(
                    SCREENING_FACTS,
                    {
                        "card": request.card_id,
                        "customer": request.customer_id,
                        "order": request.order_id,
                        "model": self.model_name,
                    },
                )
            ).fetchone()
            *rule_facts, champion, artifact_path, now = facts
            screening = _decide(request, *rule_facts)
            if champion is not None:
                score = await self._champion_score(conn, request, champion, artifact_path, now)
                if score is not None:
                    screening = _with_model_score(screening, champion, score, self.review_score)
            await conn.execute(
                "update orders set fraud_decision = %s, updated_at = now() where order_id = %s",
                (screening.decision.value, request.order_id),
            )
            await append_event(
                conn,
                request.order_id,
                "screen_order",
                "done",
                decision=screening.decision,
                reasons=screening.reasons,
                # the audit trail says which model version decided, and how
                model_version=screening.model_version,
                model_score=screening.model_score,
            )
        return screening

    async def _champion_score(
        self,
        conn: AsyncConnection,
        request: ScreeningRequest,
        version: str,
        artifact_path: str,
        now: datetime,
    ) -> float | None:
        """The champion's fraud probability for the order. A model that cannot be loaded leaves
        the rules to decide (None), with a warning: the shop keeps selling."""
        card_history = await (
            await conn.execute(
                CARD_HISTORY, {"now": now, "card": request.card_id, "order": request.order_id}
            )
        ).fetchone()
        alerts = await (
            await conn.execute(
                "select count(*) from fraud_alerts where card_id = %s"
                " and event_time > %s - interval '24 hours'",
                (request.card_id, now),
            )
        ).fetchone()
        try:
            model = await asyncio.to_thread(load_model, version, artifact_path)
        except (OSError, ValueError) as exc:
            activity.logger.warning("champion %s cannot be loaded: %s", version, exc)
            return None
        features = order_features(
            float(request.amount),
            request.client_country,
            now,
            CardHistory(*card_history),
            alerts[0] if alerts else 0,
        )
        return float(fraud_scores(model, features)[0])

    @activity.defn
    async def complete_order(self, order: OrderRef) -> StepOutcome:
        """Consume the reserved stock and mark the order COMPLETED, in one transaction."""
        async with self.pool.connection() as conn, conn.transaction():
            updated = await conn.execute(COMPLETE_ORDER, {"order": order.order_id})
            await append_event(conn, order.order_id, "complete_order", "done")
        return StepOutcome(applied=updated.rowcount == 1, detail="stock consumed, order completed")

    @activity.defn
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


def _with_model_score(
    screening: Screening, version: str, score: float, review_score: float
) -> Screening:
    scored = {"model_version": version, "model_score": score}
    if score < review_score:
        return screening.model_copy(update=scored)
    return screening.model_copy(
        update=scored
        | {
            "decision": (
                FraudDecision.REVIEW
                if screening.decision is FraudDecision.APPROVE
                else screening.decision
            ),
            "reasons": [*screening.reasons, f"model {version} scores {score:.2f}"],
        }
    )


def _decide(
    request: ScreeningRequest,
    card_patterns: list[str],
    customer_alerts: int,
    home_country: str | None,
    completed_orders: int,
    average_total: Decimal,
) -> Screening:
    if card_patterns:
        return Screening(
            decision=FraudDecision.REJECT,
            reasons=[f"open fraud alert on the card: {', '.join(card_patterns)}"],
        )
    reasons = []
    if customer_alerts:
        reasons.append(f"{customer_alerts} open fraud alert(s) on the customer's other cards")
    if home_country is None and request.amount > NEW_CUSTOMER_LIMIT:
        reasons.append(f"unknown customer ordering more than {NEW_CUSTOMER_LIMIT}")
    if (
        home_country is not None
        and request.client_country != home_country
        and request.ship_country != home_country
    ):
        reasons.append(
            f"ordered from {request.client_country} and shipped to {request.ship_country},"
            f" far from the customer's home country {home_country}"
        )
    if request.amount > LARGE_ORDER:
        reasons.append(f"amount {request.amount} above {LARGE_ORDER}")
    if (
        completed_orders >= HISTORY_NEEDED
        and request.amount > UNUSUAL_AMOUNT_FACTOR * average_total
    ):
        reasons.append(
            f"amount {request.amount} is more than {UNUSUAL_AMOUNT_FACTOR}x the customer's"
            f" average of {average_total.quantize(Decimal('0.01'))}"
        )
    return Screening(
        decision=FraudDecision.REVIEW if reasons else FraudDecision.APPROVE, reasons=reasons
    )
