"""The training protocol's split (the job's) and the evaluation of its test scores (the
activity's): a tiny table worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from domain.pipeline.evaluation import evaluate_test_scores
from domain.pipeline.metrics import Scored, card_precision_at_k
from domain.pipeline.models import EvaluationProtocol
from jobs.ray.train_fraud_model import protocol_split

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(days: int = 40) -> pd.DataFrame:
    """A transaction an hour for `days` days on 4 cards; card c1's fraud on day 5, card c2's on
    day 31 (in the test period, then known a week later)."""
    rows = []
    for hour in range(days * 24):
        ts = DAY0 + timedelta(hours=hour)
        card = f"c{hour % 4}"
        fraud = (card == "c1" and ts.date() == date(2026, 1, 6)) or (
            card == "c2" and ts.date() == date(2026, 2, 1)
        )
        rows.append(
            {
                "ts": ts,
                "card_id": card,
                "fraud_pattern": "x" if fraud else None,
                "is_fraud": int(fraud),
                "amount": float(hour % 7),
            }
        )
    return pd.DataFrame(rows)


def test_the_split_leaves_the_delay_out_and_removes_cards_known_compromised() -> None:
    data = frame()
    train, test, protocol = protocol_split(data, fraction=0.25, delay_days=7)
    test_start = pd.Timestamp(protocol["test_start"])
    assert test_start == data["ts"].quantile(0.75)
    assert train["ts"].max() < test_start - pd.Timedelta(days=7)
    assert protocol["delay_seconds"] == 7 * 86400
    # c1's fraud of day 5 is known long before the test: none of its rows are tested
    assert "c1" not in set(test["card_id"])
    # c2's first fraud (Feb 1, 02:00) is known at Feb 8, 02:00: tested through Feb 8, removed
    # from the first day that starts after it
    c2 = test[test["card_id"] == "c2"]["ts"]
    assert c2.max() == pd.Timestamp(datetime(2026, 2, 8, 22, tzinfo=UTC))
    assert c2.min() == data[(data["card_id"] == "c2") & (data["ts"] >= test_start)]["ts"].min()
    assert protocol["known_card_rows_removed"] == 60 + 6  # c1 all 10 days, c2 on Feb 9
    assert protocol["test_rows"] == len(test)


def test_a_short_stream_gets_a_shorter_delay() -> None:
    data = frame(days=2)
    _, _, protocol = protocol_split(data, fraction=0.25, delay_days=7)
    assert protocol["delay_seconds"] == pytest.approx(36 * 3600 / 4, rel=0.05)
    assert protocol["delay_days_requested"] == 7


def test_every_models_metrics_from_the_test_scores(tmp_path: Path) -> None:
    ts = [DAY0, DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=1)]
    path = tmp_path / "test_scores.parquet"
    pd.DataFrame(
        {
            "ts": ts,
            "card_id": ["a", "b", "a", "c"],
            "fraud_pattern": ["skim", None, None, "merchant"],
            "is_fraud": [1, 0, 0, 1],
            "candidate": [0.9, 0.2, 0.1, 0.8],  # perfect
            "logistic_regression": [0.1, 0.9, 0.2, 0.8],  # one fraud ranked under a genuine
        }
    ).to_parquet(path)
    protocol = EvaluationProtocol(
        train_start=DAY0,
        train_end=DAY0,
        delay_seconds=0,
        delay_days_requested=0,
        test_start=DAY0,
        test_end=ts[-1],
        train_rows=1,
        test_rows=4,
        test_frauds=2,
        known_card_rows_removed=0,
    )
    evaluation = evaluate_test_scores(str(path), protocol, alert_budget=0.5, k=1)

    assert evaluation.alert_budget_rows == 2
    candidate, baseline = evaluation.models["candidate"], evaluation.models["logistic_regression"]
    assert (candidate.auc_roc, candidate.average_precision) == (1.0, 1.0)
    assert (candidate.precision_at_budget, candidate.recall_at_budget) == (1.0, 1.0)
    assert candidate.recall_by_scenario == {"merchant": 1.0, "skim": 1.0}
    assert candidate.card_precision_at_k == 1.0  # day 1: a; day 2: c
    # the baseline: frauds at ranks 2 and 4 of 4 -> AUC 1/4 + ... by pairs: (0.1 vs 0.9, 0.2) 0,
    # (0.8 vs 0.9) 0, (0.8 vs 0.2) 1 -> 1/4
    assert baseline.auc_roc == 0.25
    assert baseline.average_precision == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert baseline.recall_by_scenario == {"merchant": 1.0, "skim": 0.0}
    assert baseline.card_precision_at_k == card_precision_at_k(
        [
            Scored(day=t.date(), card_id=c, score=s, fraud=f)
            for t, c, s, f in zip(
                ts,
                ["a", "b", "a", "c"],
                [0.1, 0.9, 0.2, 0.8],
                [True, False, False, True],
                strict=True,
            )
        ],
        k=1,
    )
    assert evaluation.beats_baselines
