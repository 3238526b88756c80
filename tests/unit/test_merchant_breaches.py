"""The generator's merchant breaches and its history: what gets labelled, and when."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from domain.fraud.evaluation import Evaluation, PatternScore
from domain.fraud.events import FraudPattern, MerchantScenario
from domain.fraud.generator import TransactionStream
from domain.fraud.merchant_breaches import MerchantBreaches

START = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_breach_covers_its_days_and_no_more() -> None:
    breaches = MerchantBreaches(random.Random(1), ["m-a", "m-b"], per_day=1.0, days=3)
    when = START
    while not breaches.started:
        when += timedelta(hours=1)
        breaches.at(when)
    breach = breaches.started[0]
    assert breach.end - breach.start == timedelta(days=3)
    assert breaches.breach_of(breach.merchant_id, breach.start) == breach
    assert breaches.breach_of(breach.merchant_id, breach.end - timedelta(seconds=1)) == breach
    assert breaches.breach_of(breach.merchant_id, breach.start - timedelta(seconds=1)) is None
    breaches.at(breach.end)
    assert breaches.breach_of(breach.merchant_id, breach.end) is None


def test_no_breaches_when_switched_off() -> None:
    breaches = MerchantBreaches(random.Random(1), ["m-a"], per_day=0, days=3)
    breaches.at(START + timedelta(days=365))
    assert breaches.started == []
    assert breaches.active == {}


def test_history_labels_exactly_the_charges_at_breached_merchants() -> None:
    stream = TransactionStream("t", 3, rate=10, fraud_share=0.01, malformed_share=0, start=START)
    history = list(stream.history(days=30, per_day=2000))
    assert stream.history_events == 60_000
    assert all(START - timedelta(days=30) <= t.event_time < START for t in history)
    assert [t.event_time for t in history] == sorted(t.event_time for t in history)

    breached = {
        t.txn_id
        for t in history
        if not t.card_id.startswith("card-t-fraud-")  # the card scenarios' own cards
        and any(
            b.merchant_id == t.merchant_id and b.start <= t.event_time < b.end
            for b in stream.breaches.started
        )
    }
    labelled = {txn for label in stream.breach_labels for txn in label.txn_ids}
    assert len(stream.breaches.started) >= 5
    assert breached
    assert labelled == breached
    assert {label.pattern for label in stream.breach_labels} == {
        MerchantScenario.MERCHANT_COMPROMISE
    }
    # the card scenarios are injected into the history too, at the stream's share
    assert {label.pattern for label in stream.labels} == set(FraudPattern)


def test_customers_share_their_countrys_merchants() -> None:
    stream = TransactionStream("t", 3, rate=10, fraud_share=0, malformed_share=0, start=START)
    customers_of: dict[str, set[str]] = defaultdict(set)
    for txn in stream.history(days=10, per_day=5000):
        customers_of[txn.merchant_id].add(txn.customer_id)
    # 5,000 customers over 300 merchants: each merchant sees many cards, so its fraud share
    # over a window is a feature worth having
    assert len(customers_of) == 300
    assert min(len(c) for c in customers_of.values()) > 50


def test_the_evaluation_says_a_merchant_scenario_is_not_a_cep_pattern() -> None:
    evaluation = Evaluation(
        "run",
        [PatternScore("card_testing", 2, 2, 2, 2)],
        [10.0, 20.0],
        {"merchant_compromise": 40},
    )
    notes = evaluation.notes()
    assert notes[0].startswith("merchant_compromise: 40 charges labelled, not a CEP pattern")
    assert notes[-1].startswith("detection latency")
    assert evaluation.overall.labels == 2  # merchant charges are not scored as detections
