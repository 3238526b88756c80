"""The fraud screen: the facts about an order read in one query, the rules applied to them
(domain/orders/screen.py), and the registry's champion scoring the order when there is one."""

from __future__ import annotations

import asyncio

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from activities.contract import implements
from activities.orders.saga_log import append_event
from core.settings import Settings
from domain.orders.models import Screening, ScreeningRequest
from domain.orders.screen import ScreeningFacts, decide, with_model_score
from domain.pipeline.scoring import CardHistory, fraud_scores, load_model, order_features
from workflows.orders import activities as declared

# What the screen reads, in one query. For the rules: the card's open alerts (their patterns),
# the open alerts on the customer's other cards, the customer's home country (none for an
# unknown customer) and their completed orders (count, average total). Then the registry's
# champion (none without one) and the database's clock, which the model's features are as of.
SCREENING_FACTS = """
    select
        (select coalesce(array_agg(distinct pattern order by pattern), '{}') from fraud_alerts
          where card_id = %(card)s and status = 'OPEN') as card_alert_patterns,
        (select count(*) from fraud_alerts
          where customer_id = %(customer)s and card_id <> %(card)s and status = 'OPEN')
          as other_cards_alerts,
        (select home_country from customers where customer_id = %(customer)s) as home_country,
        history.completed_orders,
        history.average_total,
        champion.version_id as champion_version,
        champion.artifact_path as champion_artifact,
        now() as as_of
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
# The card's earlier orders as the champion's features need them (CardHistory), aggregated here
# rather than fetched: a busy card costs no more to screen than a new one.
CARD_HISTORY = """
    with earlier as (
        select total::float8 as total, client_country, created_at, %(now)s - created_at as age
        from orders
        where card_id = %(card)s and order_id <> %(order)s and created_at <= %(now)s
    )
    select
        count(*) filter (where age <= interval '5 minutes') as count_5m,
        count(*) filter (where age <= interval '1 hour') as count_1h,
        coalesce(sum(total) filter (where age <= interval '1 hour'), 0) as sum_1h,
        count(*) filter (where age <= interval '24 hours') as count_24h,
        coalesce(sum(total) filter (where age <= interval '24 hours'), 0) as sum_24h,
        coalesce(sum(total * total) filter (where age <= interval '24 hours'), 0)
            as sum_squares_24h,
        max(total) filter (where age <= interval '24 hours') as max_24h,
        count(*) filter (where age <= interval '7 days') as count_7d,
        coalesce(sum(total) filter (where age <= interval '7 days'), 0) as sum_7d,
        count(*) filter (where age <= interval '30 days') as count_30d,
        coalesce(sum(total) filter (where age <= interval '30 days'), 0) as sum_30d,
        coalesce(array_agg(distinct client_country) filter (where age <= interval '24 hours'),
                 '{}') as countries_24h,
        avg(total) as mean_total,
        max(created_at) as previous_at,
        (select count(*) from fraud_alerts where card_id = %(card)s
          and event_time > %(now)s - interval '24 hours') as cep_alerts_24h
    from earlier
"""


class ScreeningActivities:
    def __init__(self, pool: AsyncConnectionPool, settings: Settings):
        self.pool = pool
        self.model_name = settings.fraud_model_name
        self.review_score = settings.fraud_model_review_score

    @implements(declared.screen_order)
    async def screen_order(self, request: ScreeningRequest) -> Screening:
        async with self.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=class_row(ScreeningFacts))
            await cursor.execute(
                SCREENING_FACTS,
                {
                    "card": request.card_id,
                    "customer": request.customer_id,
                    "order": request.order_id,
                    "model": self.model_name,
                },
            )
            facts = await cursor.fetchone()
            if facts is None:  # the query is an aggregate: it always returns its row
                raise RuntimeError(f"no screening facts for order {request.order_id}")
            screening = decide(request, facts)
            if facts.champion_version and facts.champion_artifact:
                score = await self._champion_score(conn, request, facts)
                if score is not None:
                    screening = with_model_score(
                        screening, facts.champion_version, score, self.review_score
                    )
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
        self, conn: AsyncConnection, request: ScreeningRequest, facts: ScreeningFacts
    ) -> float | None:
        """The champion's fraud probability for the order. A model that cannot be loaded leaves
        the rules to decide (None), with a warning: the shop keeps selling."""
        version, artifact_path = facts.champion_version, facts.champion_artifact
        if version is None or artifact_path is None:
            return None
        cursor = conn.cursor(row_factory=class_row(CardHistory))
        await cursor.execute(
            CARD_HISTORY, {"now": facts.as_of, "card": request.card_id, "order": request.order_id}
        )
        history = await cursor.fetchone()
        if history is None:  # an aggregate: always one row
            raise RuntimeError(f"no card history for order {request.order_id}")
        try:
            model = await asyncio.to_thread(load_model, version, artifact_path)
        except (OSError, ValueError) as exc:
            activity.logger.warning("champion %s cannot be loaded: %s", version, exc)
            return None
        features = order_features(
            float(request.amount), request.client_country, facts.as_of, history
        )
        return float((await asyncio.to_thread(fraud_scores, model, features))[0])
