"""The registry's versions as tables: each version's test-period metrics next to the baselines
trained on the same split, and one version in detail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from domain.pipeline.models import BASELINE_MODELS, HEADLINE_METRICS, Evaluation

HEADERS = {"auc_roc": "AUC ROC", "average_precision": "AP", "card_precision_at_k": "card P@k"}


def versions_table(rows: list[tuple[str, str, dict[str, Any], Any, datetime]]) -> Table:
    """One row per version: its aliases, the candidate's headline metrics with the baselines'
    (logistic regression / random forest) beside them, and whether it beats both."""
    table = Table("version", "aliases", *(f"{HEADERS[m]} (LR / RF)" for m in HEADLINE_METRICS))
    table.add_column("beats baselines")
    table.add_column("created")
    for version_id, aliases, metrics, evaluation, created in rows:
        if evaluation is None:  # registered before the protocol: PR-AUC on a holdout only
            cells = [f"AP {metrics['pr_auc']:.4f} (holdout)", "", ""]
            verdict = "not evaluated"
        else:
            judged = Evaluation.model_validate(evaluation)
            cells = [_with_baselines(judged, metric) for metric in HEADLINE_METRICS]
            verdict = "yes" if judged.beats_baselines else "no"
        table.add_row(version_id, aliases, *cells, verdict, f"{created:%Y-%m-%d %H:%M}")
    return table


def _with_baselines(evaluation: Evaluation, metric: str) -> str:
    values = [
        getattr(evaluation.models[name], metric)
        for name in ("candidate", *BASELINE_MODELS)
        if name in evaluation.models
    ]
    head, *rest = (f"{value:.4f}" for value in values)
    return f"{head} ({' / '.join(rest)})" if rest else head


def detail_tables(version_id: str, evaluation: dict[str, Any] | None) -> list[Table]:
    if evaluation is None:
        return []
    judged = Evaluation.model_validate(evaluation)
    split = judged.protocol
    models = Table(
        "model",
        "AUC ROC",
        "AP",
        f"card P@{judged.k}",
        "P@budget",
        "R@budget",
        "recall by scenario (at the budget)",
        title=(
            f"{version_id}: trained on {split.train_rows} rows to {split.train_end:%Y-%m-%d %H:%M},"
            f" {split.delay_seconds / 86400:.2f} days left out (labels arrive late), tested on"
            f" {split.test_rows} rows ({split.test_frauds} fraud) from"
            f" {split.test_start:%Y-%m-%d %H:%M}; {split.known_card_rows_removed} rows of cards"
            f" known compromised removed; budget {judged.alert_budget_rows} alerts"
        ),
    )
    for name, m in judged.models.items():
        models.add_row(
            name,
            f"{m.auc_roc:.4f}",
            f"{m.average_precision:.4f}",
            f"{m.card_precision_at_k:.4f}",
            f"{m.precision_at_budget:.4f}",
            f"{m.recall_at_budget:.4f}",
            ", ".join(f"{s} {r:.2f}" for s, r in m.recall_by_scenario.items()),
        )
    return [models]
