"""A training run's test period judged with the metrics fraud teams use: the job writes each
test row with every model's score (the candidate, the two baselines, the champion); this reads
them and computes the metrics of domain/pipeline/metrics.py for each model, so that every report
computes them one way."""

from __future__ import annotations

import math

import pyarrow.parquet as pq

from domain.pipeline.metrics import (
    Scored,
    at_budget,
    average_precision,
    card_precision_at_k,
    recall_by_scenario,
    roc_auc,
)
from domain.pipeline.models import Evaluation, EvaluationProtocol, ModelMetrics

TEST_COLUMNS = ("ts", "card_id", "fraud_pattern", "is_fraud")


def judge(scored: list[Scored], k: int, budget: int) -> ModelMetrics:
    labels, scores = [row.fraud for row in scored], [row.score for row in scored]
    precision, recall = at_budget(scored, budget)
    # the scenarios' recall at the budget: the least score alerted is the threshold
    threshold = sorted(scores, reverse=True)[budget - 1] if scored else math.inf
    return ModelMetrics(
        auc_roc=roc_auc(labels, scores),
        average_precision=average_precision(labels, scores),
        card_precision_at_k=card_precision_at_k(scored, k),
        precision_at_budget=precision,
        recall_at_budget=recall,
        recall_by_scenario=recall_by_scenario(scored, threshold),
    )


def evaluate_test_scores(
    path: str, protocol: EvaluationProtocol, alert_budget: float, k: int
) -> Evaluation:
    """Every model's metrics on the test rows in `path` (a column of scores per model);
    `alert_budget` is the share of test transactions an analyst team can review."""
    table = pq.read_table(path).to_pydict()
    days = [ts.date() for ts in table["ts"]]
    budget = max(1, math.ceil(alert_budget * len(days)))
    models = {}
    for name in (column for column in table if column not in TEST_COLUMNS):
        scored = [
            Scored(day=day, card_id=card, score=score, fraud=bool(fraud), scenario=scenario)
            for day, card, score, fraud, scenario in zip(
                days,
                table["card_id"],
                table[name],
                table["is_fraud"],
                table["fraud_pattern"],
                strict=True,
            )
        ]
        models[name] = judge(scored, k, budget)
    return Evaluation(protocol=protocol, k=k, alert_budget_rows=budget, models=models)
