"""The metrics fraud teams judge a model by, on the scored transactions of a test period: AUC
ROC, average precision, card precision@k per day, precision and recall at an alert budget,
recall per scenario. Plain Python, ties handled as scikit-learn handles them (the tests hold
them to hand computations), so that every report computes them one way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby


@dataclass(frozen=True)
class Scored:
    """One test transaction: when (its day), whose card, the model's score, the truth."""

    day: date
    card_id: str
    score: float
    fraud: bool
    scenario: str | None = None


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """The probability that a fraud scores above a genuine transaction (a tie counts half):
    the Mann-Whitney statistic over average ranks."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC ROC needs both fraud and genuine transactions")
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    rank_sum, position = 0.0, 0
    for _, tied in groupby(ranked, key=lambda pair: pair[0]):
        group = list(tied)
        average_rank = position + (len(group) + 1) / 2  # ranks position+1 .. position+len
        rank_sum += average_rank * sum(1 for _, fraud in group if fraud)
        position += len(group)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def average_precision(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Sum over score thresholds, high to low, of precision times the recall gained there; a
    tie is one threshold (scikit-learn's average_precision_score)."""
    positives = sum(labels)
    if positives == 0:
        raise ValueError("average precision needs at least one fraud")
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: -pair[0])
    seen = found = 0
    total = 0.0
    for _, tied in groupby(ranked, key=lambda pair: pair[0]):
        group = list(tied)
        gained = sum(1 for _, fraud in group if fraud)
        seen += len(group)
        found += gained
        total += (found / seen) * (gained / positives)
    return total


def card_precision_at_k(
    scored: Sequence[Scored], k: int = 100, known: frozenset[str] = frozenset()
) -> float:
    """Each day, the k cards with the highest score of the day (a card is fraud that day if any
    of its transactions is); cards known compromised (`known`, e.g. from before the test
    period) and cards caught on an earlier day are left out; the mean precision over days."""
    by_day: dict[date, dict[str, tuple[float, bool]]] = defaultdict(dict)
    for row in scored:
        cards = by_day[row.day]
        best, fraud = cards.get(row.card_id, (float("-inf"), False))
        cards[row.card_id] = (max(best, row.score), fraud or row.fraud)
    caught = set(known)
    precisions = []
    for day in sorted(by_day):
        candidates = [(card, s, f) for card, (s, f) in by_day[day].items() if card not in caught]
        # highest score first; equal scores in card order, so that the answer is one answer
        top = sorted(candidates, key=lambda c: (-c[1], c[0]))[:k]
        hits = [card for card, _, fraud in top if fraud]
        precisions.append(len(hits) / k)
        caught.update(hits)
    return sum(precisions) / len(precisions) if precisions else 0.0


def at_budget(scored: Sequence[Scored], budget: int) -> tuple[float, float]:
    """(precision, recall) when the `budget` highest-scored transactions are alerted."""
    frauds = sum(1 for row in scored if row.fraud)
    alerted = sorted(scored, key=lambda row: -row.score)[:budget]
    hits = sum(1 for row in alerted if row.fraud)
    return (hits / len(alerted) if alerted else 0.0, hits / frauds if frauds else 0.0)


def recall_by_scenario(scored: Sequence[Scored], threshold: float) -> dict[str, float]:
    """Of each scenario's frauds, the share scored at or above the threshold."""
    totals: dict[str, int] = defaultdict(int)
    found: dict[str, int] = defaultdict(int)
    for row in scored:
        if row.fraud:
            name = row.scenario or "fraud"
            totals[name] += 1
            found[name] += row.score >= threshold
    return {name: found[name] / totals[name] for name in sorted(totals)}
