"""The order record: create it, screen it for fraud, and close it in a terminal state."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.saga_log import append_event
from app.models.orders import (
    FraudDecision,
    OrderClosure,
    OrderRef,
    OrderRequest,
    Screening,
    ScreeningRequest,
    StepOutcome,
)
from app.scoring import CardHistory, fraud_scores, load_model, order_features
from app.settings import Settings

# Fraud-screen rules over PostgreSQL state: the streaming alerts (Flink CEP) land in
# fraud_alerts. The registry's champion model scores each order as well: a high score sends it
# to review.
LARGE_ORDER = Decimal("5000")
NEW_CUSTOMER_LIMIT = Decimal("1000")
UNUSUAL_AMOUNT_FACTOR = Decimal("5")
HISTORY_NEEDED = 3
# What the rules need, in one query: the card's open alerts (their patterns), the open alerts on
# the customer's other cards, the customer's home country (none for an unknown customer) and
# their completed orders (count, average total).
SCREENING_FACTS = """
    select
        (select coalesce(array_agg(distinct pattern order by pattern), '{}') from fraud_alerts
          where card_id = %(card)s and status = 'OPEN'),
        (select count(*) from fraud_alerts
          where customer_id = %(customer)s and card_id <> %(card)s and status = 'OPEN'),
        (select home_country from customers where customer_id = %(customer)s),
        count(*),
        coalesce(avg(total), 0)
    from orders
    where customer_id = %(customer)s and status = 'COMPLETED' and order_id <> %(order)s
"""
# The card's earlier orders as the champion's features need them (app.scoring.CardHistory),
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


class OrderActivities:
    def __init__(self, pool: AsyncConnectionPool, settings: Settings):
        self.pool = pool
        self.model_name = settings.fraud_model_name
        self.review_score = settings.fraud_model_review_score

    @activity.defn
    async def record_order(self, request: OrderRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            inserted = await conn.execute(
                "insert into orders (order_id, customer_id, card_id, currency, total,"
                " client_country, client_ip, device_id, ship_country)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict (order_id) do nothing",
                (
                    request.order_id,
                    request.customer_id,
                    request.payment.card_id,
                    request.currency,
                    request.total,
                    request.client.country,
                    str(request.client.ip),
                    request.client.device_id,
                    request.shipping_address.country,
                ),
            )
            if inserted.rowcount == 0:
                return StepOutcome(applied=False, detail="order already recorded")
            for line, item in enumerate(request.items, start=1):
                await conn.execute(
                    "insert into order_items (order_id, line, sku, quantity, unit_price)"
                    " values (%s, %s, %s, %s, %s)",
                    (request.order_id, line, item.sku, item.quantity, item.unit_price),
                )
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
                    },
                )
            ).fetchone()
            screening = _decide(request, *facts)
            scored = await self._champion_score(conn, request)
            if scored is not None:
                screening = _with_model_score(screening, *scored, self.review_score)
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
        self, conn: AsyncConnection, request: ScreeningRequest
    ) -> tuple[str, float] | None:
        """The champion's fraud probability for the order, or None without a champion. A model
        that cannot be loaded leaves the rules to decide, with a warning: the shop keeps
        selling."""
        champion = await (
            await conn.execute(
                "select v.version_id, v.artifact_path, now() from model_aliases a"
                " join model_versions v using (version_id)"
                " where a.model_name = %s and a.alias = 'champion'",
                (self.model_name,),
            )
        ).fetchone()
        if champion is None:
            return None
        version, artifact_path, now = champion
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
        return version, float(fraud_scores(model, features)[0])

    @activity.defn
    async def complete_order(self, order: OrderRef) -> StepOutcome:
        """Consume the reserved stock and mark the order COMPLETED, in one transaction."""
        async with self.pool.connection() as conn, conn.transaction():
            consumed = await (
                await conn.execute(
                    "update reservations set status = 'CONSUMED', updated_at = now()"
                    " where order_id = %s and status = 'ACTIVE' returning order_id",
                    (order.order_id,),
                )
            ).fetchone()
            if consumed:  # only once: a retry finds the reservation CONSUMED
                await conn.execute(
                    "update inventory i set on_hand = i.on_hand - l.quantity,"
                    " reserved = i.reserved - l.quantity"
                    " from reservation_lines l where l.order_id = %s and l.sku = i.sku",
                    (order.order_id,),
                )
            updated = await conn.execute(
                "update orders set status = 'COMPLETED', status_reason = null, updated_at = now()"
                " where order_id = %s and status = 'PENDING'",
                (order.order_id,),
            )
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
