"""Precision, recall and detection latency of the CEP job against the generator's labels.

A label (one injected scenario) is detected when an alert of its pattern exists for its card.
An alert is a true positive when its card carries a label of the same pattern; alerts on cards
of the run without such a label are false positives. Latency runs from the event time of the
match's last event to the moment the alert was written to PostgreSQL. Labels of merchant
scenarios (a breached merchant's charges) are counted apart: no card's own charges show them,
so the CEP job is not expected to catch them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.db.connections import connect
from domain.fraud.events import FraudPattern, MerchantScenario


@dataclass(frozen=True)
class PatternScore:
    pattern: str
    labels: int
    detected: int
    alerts: int
    true_alerts: int

    @property
    def recall(self) -> float:
        return self.detected / self.labels if self.labels else float("nan")

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else float("nan")


@dataclass(frozen=True)
class Evaluation:
    run_id: str
    scores: list[PatternScore]
    latencies_ms: list[float]
    # labelled charges of each merchant scenario
    not_cep_patterns: dict[str, int] = field(default_factory=dict)

    @property
    def overall(self) -> PatternScore:
        return PatternScore(
            "overall",
            *(
                sum(getattr(s, f) for s in self.scores)
                for f in ("labels", "detected", "alerts", "true_alerts")
            ),
        )

    def latency_percentile(self, q: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    def lines(self) -> list[str]:
        rows = [
            f"{'pattern':<20}{'labels':>8}{'found':>8}{'alerts':>8}{'precision':>11}{'recall':>9}"
        ]
        for s in [*self.scores, self.overall]:
            rows.append(
                f"{s.pattern:<20}{s.labels:>8}{s.detected:>8}{s.alerts:>8}"
                f"{s.precision:>11.3f}{s.recall:>9.3f}"
            )
        return rows + self.notes()

    def notes(self) -> list[str]:
        """What the table does not show: merchant scenarios, and the detection latency."""
        notes = [
            f"{scenario}: {charges} charges labelled, not a CEP pattern (no card's own charges"
            " show it; the model's merchant-risk features are for it: `./hybrid pipeline models`)"
            for scenario, charges in self.not_cep_patterns.items()
        ]
        notes.append(
            f"detection latency (event time of the last event -> alert in PostgreSQL), "
            f"{len(self.latencies_ms)} alerts: p50 {self.latency_percentile(50):.0f} ms, "
            f"p95 {self.latency_percentile(95):.0f} ms, p99 {self.latency_percentile(99):.0f} ms"
        )
        return notes


def evaluate(dsn: str, run_id: str, live_since: datetime | None = None) -> Evaluation:
    """`live_since`: score only the scenarios and alerts from then on, the live part of a
    stream that began with days of history sent at once (a detector already running when the
    history arrives drops it as late, and the latency of an alert in it would say how late the
    history was sent, not how fast the detector is)."""
    card_prefix = f"card-{run_id}-%"
    since = live_since or datetime.min.replace(tzinfo=UTC)
    with connect(dsn) as conn:
        labels = conn.execute(
            "select pattern, card_id from fraud_labels where run_id = %s"
            " and first_event_time >= %s",
            (run_id, since),
        ).fetchall()
        alerts = conn.execute(
            "select pattern, card_id, extract(epoch from written_at - event_time) * 1000"
            " from fraud_alerts where card_id like %s"
            " and coalesce(first_event_time, event_time) >= %s",
            (card_prefix, since),
        ).fetchall()
    labelled = set(labels)
    alerted = {(pattern, card) for pattern, card, _ in alerts}
    scores = [
        PatternScore(
            pattern=pattern.value,
            labels=sum(1 for p, _ in labels if p == pattern.value),
            detected=sum(1 for p, c in labels if p == pattern.value and (p, c) in alerted),
            alerts=sum(1 for p, _, _ in alerts if p == pattern.value),
            true_alerts=sum(1 for p, c, _ in alerts if p == pattern.value and (p, c) in labelled),
        )
        for pattern in FraudPattern
    ]
    not_cep_patterns = {
        scenario.value: n
        for scenario in MerchantScenario
        if (n := sum(1 for p, _ in labels if p == scenario.value))
    }
    return Evaluation(run_id, scores, sorted(float(ms) for _, _, ms in alerts), not_cep_patterns)
