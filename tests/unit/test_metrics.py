"""The report's metrics against hand computations on tiny tables (ties included), and against
scikit-learn's on random ones."""

from __future__ import annotations

import random
from datetime import date

import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from domain.pipeline.metrics import (
    Scored,
    at_budget,
    average_precision,
    card_precision_at_k,
    recall_by_scenario,
    roc_auc,
)

LABELS = [True, False, True, False, True]
SCORES = [0.9, 0.9, 0.5, 0.3, 0.3]


def test_auc_by_hand_with_ties() -> None:
    # fraud 0.9 beats 0.3 and ties 0.9 (1.5), 0.5 beats 0.3 (1), 0.3 ties 0.3 (0.5): 3 of 6
    assert roc_auc(LABELS, SCORES) == pytest.approx(0.5)


def test_average_precision_by_hand_with_ties() -> None:
    # thresholds 0.9 (precision 1/2, a third of the frauds), 0.5 (2/3, a third), 0.3 (3/5, a third)
    assert average_precision(LABELS, SCORES) == pytest.approx(1 / 6 + 2 / 9 + 1 / 5)


def test_they_are_scikit_learns_on_random_tables() -> None:
    rng = random.Random(5)
    for _ in range(20):
        labels = [rng.random() < 0.2 for _ in range(200)]
        labels[0], labels[1] = True, False
        scores = [round(rng.random(), 1) for _ in labels]  # many ties
        assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
        assert average_precision(labels, scores) == pytest.approx(
            average_precision_score(labels, scores)
        )


def test_one_class_has_no_auc() -> None:
    with pytest.raises(ValueError, match="both"):
        roc_auc([True, True], [0.1, 0.2])


DAY1, DAY2 = date(2026, 1, 5), date(2026, 1, 6)
TABLE = [
    Scored(DAY1, "A", 0.9, True, "compromised merchant"),
    Scored(DAY1, "A", 0.2, False),
    Scored(DAY1, "B", 0.8, False),
    Scored(DAY1, "C", 0.7, True, "card testing"),
    Scored(DAY2, "A", 0.95, True, "compromised merchant"),
    Scored(DAY2, "C", 0.6, True, "card testing"),
    Scored(DAY2, "D", 0.6, False),
]


def test_card_precision_at_k_drops_cards_caught_before_and_known_ones() -> None:
    # day 1: A and B on top (1/2), A caught; day 2 without A: C and D tie, in card order (1/2)
    assert card_precision_at_k(TABLE, k=2) == pytest.approx(0.5)
    # C known compromised: day 1 A and B (1/2); day 2 only D is left (0/2)
    assert card_precision_at_k(TABLE, k=2, known=frozenset({"C"})) == pytest.approx(0.25)


def test_precision_and_recall_at_a_budget() -> None:
    # the three highest: A 0.95, A 0.9, B 0.8: two of the four frauds
    assert at_budget(TABLE, 3) == (pytest.approx(2 / 3), pytest.approx(2 / 4))


def test_recall_per_scenario() -> None:
    assert recall_by_scenario(TABLE, threshold=0.65) == {
        "card testing": 0.5,
        "compromised merchant": 1.0,
    }
