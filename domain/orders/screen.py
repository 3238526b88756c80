"""The fraud screen's rules: what they decide from the facts about an order, and how the
registry's champion model adds its score. Pure: the facts are read by the `screen_order`
activity (one query); the streaming alerts (Flink CEP) are among them.

    an open CEP alert on the card                          REJECT
    open alerts on the customer's other cards              REVIEW
    an unknown customer ordering more than 1000            REVIEW
    ordered and shipped away from the home country         REVIEW
    an amount above 5000                                   REVIEW
    more than 5x the customer's average (3+ orders)        REVIEW
    the champion's score at or above the review score      APPROVE becomes REVIEW
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.orders.models import FraudDecision, Screening, ScreeningRequest

LARGE_ORDER = Decimal("5000")
NEW_CUSTOMER_LIMIT = Decimal("1000")
UNUSUAL_AMOUNT_FACTOR = Decimal("5")
HISTORY_NEEDED = 3  # completed orders before the customer's average says anything


class ScreeningFacts(BaseModel):
    """What the screen knows about an order's card and customer, as of `as_of`."""

    model_config = ConfigDict(frozen=True)

    card_alert_patterns: list[str]  # the patterns of the card's open alerts
    other_cards_alerts: int  # open alerts on the customer's other cards
    home_country: str | None  # None: an unknown customer
    completed_orders: int
    average_total: Decimal  # of the completed orders; 0 without any
    champion_version: str | None = None  # the registry's champion, if there is one
    champion_artifact: str | None = None
    as_of: datetime  # the database's clock: the champion's features are as of it


def decide(request: ScreeningRequest, facts: ScreeningFacts) -> Screening:
    """The rules' decision, with every reason that applies."""
    if facts.card_alert_patterns:
        return Screening(
            decision=FraudDecision.REJECT,
            reasons=[f"open fraud alert on the card: {', '.join(facts.card_alert_patterns)}"],
        )
    reasons = []
    if facts.other_cards_alerts:
        reasons.append(
            f"{facts.other_cards_alerts} open fraud alert(s) on the customer's other cards"
        )
    home = facts.home_country
    if home is None and request.amount > NEW_CUSTOMER_LIMIT:
        reasons.append(f"unknown customer ordering more than {NEW_CUSTOMER_LIMIT}")
    if home is not None and home not in (request.client_country, request.ship_country):
        reasons.append(
            f"ordered from {request.client_country} and shipped to {request.ship_country},"
            f" far from the customer's home country {home}"
        )
    if request.amount > LARGE_ORDER:
        reasons.append(f"amount {request.amount} above {LARGE_ORDER}")
    if (
        facts.completed_orders >= HISTORY_NEEDED
        and request.amount > UNUSUAL_AMOUNT_FACTOR * facts.average_total
    ):
        reasons.append(
            f"amount {request.amount} is more than {UNUSUAL_AMOUNT_FACTOR}x the customer's"
            f" average of {facts.average_total.quantize(Decimal('0.01'))}"
        )
    return Screening(
        decision=FraudDecision.REVIEW if reasons else FraudDecision.APPROVE, reasons=reasons
    )


def with_model_score(
    screening: Screening, version: str, score: float, review_score: float
) -> Screening:
    """The rules' screening with the champion's score: a score at or above `review_score` sends
    an approved order to review (it never approves what the rules did not)."""
    scored = screening.model_copy(update={"model_version": version, "model_score": score})
    if score < review_score:
        return scored
    decision = (
        FraudDecision.REVIEW if screening.decision is FraudDecision.APPROVE else screening.decision
    )
    return scored.model_copy(
        update={
            "decision": decision,
            "reasons": [*screening.reasons, f"model {version} scores {score:.2f}"],
        }
    )
