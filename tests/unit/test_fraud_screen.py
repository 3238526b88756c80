"""The fraud screen's rules (domain/orders/screen.py), each at and around its threshold; no
database: the facts are given (the query that reads them is tested against PostgreSQL in
tests/integration/test_order_activities.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.orders.models import FraudDecision, Screening, ScreeningRequest
from domain.orders.screen import (
    HISTORY_NEEDED,
    LARGE_ORDER,
    NEW_CUSTOMER_LIMIT,
    UNUSUAL_AMOUNT_FACTOR,
    ScreeningFacts,
    decide,
    with_model_score,
)


def request(amount: str = "100.00", client: str = "FR", ship: str = "FR") -> ScreeningRequest:
    return ScreeningRequest(
        order_id="ord-1",
        customer_id="cust-1",
        card_id="card-1",
        amount=Decimal(amount),
        client_country=client,
        ship_country=ship,
    )


def facts(**changes: Any) -> ScreeningFacts:
    known_customer: dict[str, Any] = {
        "card_alert_patterns": [],
        "other_cards_alerts": 0,
        "home_country": "FR",
        "completed_orders": 0,
        "average_total": Decimal("0"),
        "as_of": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return ScreeningFacts(**(known_customer | changes))


def test_an_ordinary_order_is_approved() -> None:
    assert decide(request(), facts()) == Screening(decision=FraudDecision.APPROVE, reasons=[])


def test_an_open_alert_on_the_card_rejects_whatever_else_holds() -> None:
    screening = decide(
        request(amount="9000.00", client="NG"),
        facts(card_alert_patterns=["card_testing", "velocity_burst"], other_cards_alerts=2),
    )
    assert screening.decision is FraudDecision.REJECT
    assert screening.reasons == ["open fraud alert on the card: card_testing, velocity_burst"]


def test_alerts_on_the_customers_other_cards_send_to_review() -> None:
    screening = decide(request(), facts(other_cards_alerts=2))
    assert screening.decision is FraudDecision.REVIEW
    assert screening.reasons == ["2 open fraud alert(s) on the customer's other cards"]


@pytest.mark.parametrize(
    ("amount", "decision"),
    [
        (NEW_CUSTOMER_LIMIT, FraudDecision.APPROVE),
        (NEW_CUSTOMER_LIMIT + Decimal("0.01"), FraudDecision.REVIEW),
    ],
)
def test_an_unknown_customer_above_the_limit_is_reviewed(
    amount: Decimal, decision: FraudDecision
) -> None:
    screening = decide(request(amount=str(amount)), facts(home_country=None))
    assert screening.decision is decision
    if decision is FraudDecision.REVIEW:
        assert screening.reasons == ["unknown customer ordering more than 1000"]


@pytest.mark.parametrize(
    ("client", "ship", "decision"),
    [
        ("FR", "FR", FraudDecision.APPROVE),
        ("DE", "FR", FraudDecision.APPROVE),  # shipped home
        ("FR", "DE", FraudDecision.APPROVE),  # ordered from home
        ("DE", "NG", FraudDecision.REVIEW),
    ],
)
def test_an_order_away_from_the_home_country_is_reviewed(
    client: str, ship: str, decision: FraudDecision
) -> None:
    screening = decide(request(client=client, ship=ship), facts())
    assert screening.decision is decision
    if decision is FraudDecision.REVIEW:
        assert screening.reasons == [
            "ordered from DE and shipped to NG, far from the customer's home country FR"
        ]


@pytest.mark.parametrize(
    ("amount", "decision"),
    [(LARGE_ORDER, FraudDecision.APPROVE), (LARGE_ORDER + 1, FraudDecision.REVIEW)],
)
def test_a_large_order_is_reviewed(amount: Decimal, decision: FraudDecision) -> None:
    screening = decide(request(amount=str(amount)), facts())
    assert screening.decision is decision
    if decision is FraudDecision.REVIEW:
        assert screening.reasons == [f"amount {amount} above 5000"]


@pytest.mark.parametrize(
    ("completed", "amount", "decision"),
    [
        (HISTORY_NEEDED - 1, "1000.00", FraudDecision.APPROVE),  # too little history to judge
        (HISTORY_NEEDED, "250.00", FraudDecision.APPROVE),  # exactly 5x the average
        (HISTORY_NEEDED, "250.01", FraudDecision.REVIEW),
    ],
)
def test_an_amount_far_above_the_customers_average_is_reviewed(
    completed: int, amount: str, decision: FraudDecision
) -> None:
    screening = decide(
        request(amount=amount), facts(completed_orders=completed, average_total=Decimal("50"))
    )
    assert UNUSUAL_AMOUNT_FACTOR == 5
    assert screening.decision is decision
    if decision is FraudDecision.REVIEW:
        assert screening.reasons == [
            "amount 250.01 is more than 5x the customer's average of 50.00"
        ]


def test_every_reason_that_applies_is_given() -> None:
    screening = decide(
        request(amount="6000.00", client="US", ship="US"),
        facts(other_cards_alerts=1, completed_orders=5, average_total=Decimal("20")),
    )
    assert screening.decision is FraudDecision.REVIEW
    assert len(screening.reasons) == 4


@pytest.mark.parametrize(
    ("score", "decision"),
    [(0.89, FraudDecision.APPROVE), (0.9, FraudDecision.REVIEW), (0.99, FraudDecision.REVIEW)],
)
def test_the_champions_score_at_the_review_score_sends_an_approved_order_to_review(
    score: float, decision: FraudDecision
) -> None:
    screened = with_model_score(decide(request(), facts()), "card-fraud-v1", score, 0.9)
    assert (screened.decision, screened.model_version, screened.model_score) == (
        decision,
        "card-fraud-v1",
        score,
    )
    if decision is FraudDecision.REVIEW:
        assert screened.reasons == [f"model card-fraud-v1 scores {score:.2f}"]


def test_the_champion_never_softens_the_rules() -> None:
    rejected = decide(request(), facts(card_alert_patterns=["escalation"]))
    assert with_model_score(rejected, "v1", 0.99, 0.9).decision is FraudDecision.REJECT
    reviewed = decide(request(amount="6000.00"), facts())
    low = with_model_score(reviewed, "v1", 0.01, 0.9)
    assert (low.decision, low.reasons) == (FraudDecision.REVIEW, reviewed.reasons)
