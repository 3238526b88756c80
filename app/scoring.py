"""Scoring with registered models: an artifact is loaded once per version and kept."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow.dataset as ds


@functools.lru_cache(maxsize=4)
def load_model(version_id: str, artifact_path: str) -> dict[str, Any]:
    """The artifact ({model, features, version_id}); versions are immutable, so caching by
    version id is safe."""
    artifact = joblib.load(artifact_path)
    if artifact.get("version_id") != version_id:
        raise ValueError(f"{artifact_path} holds {artifact.get('version_id')}, not {version_id}")
    return artifact


def fraud_scores(artifact: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    columns = artifact["features"]
    return artifact["model"].predict_proba(features[columns].astype("float64").fillna(0.0))[:, 1]


def feature_rows(outputs: list[str], since: datetime) -> pd.DataFrame:
    """The feature rows at or after `since` in the given committed ETL outputs."""
    dataset = ds.dataset(
        [ds.dataset(path, format="parquet", partitioning="hive") for path in outputs]
    )
    return dataset.to_table(filter=ds.field("ts") >= pd.Timestamp(since)).to_pandas()


def order_features(
    amount: float,
    country: str,
    now: datetime,
    earlier_orders: list[tuple[float, datetime, str]],
    cep_alerts_24h: int,
) -> pd.DataFrame:
    """The model's features for an order, defined as the ETL defines them for a card
    transaction (jobs/spark/features.py), over the card's earlier orders: (total, when, client
    country), all of them, oldest first. The shop is one merchant."""
    day = [(a, c) for a, at, c in earlier_orders if (now - at).total_seconds() <= 86_400]
    hour = [a for a, at, _ in earlier_orders if (now - at).total_seconds() <= 3_600]
    five = [a for a, at, _ in earlier_orders if (now - at).total_seconds() <= 300]
    day_amounts = [a for a, _ in day] + [amount]
    history = [a for a, _, _ in earlier_orders]
    row = {
        "amount": amount,
        "txn_count_5m": len(five) + 1,
        "txn_count_1h": len(hour) + 1,
        "txn_count_24h": len(day_amounts),
        "amount_sum_1h": sum(hour) + amount,
        "amount_avg_24h": float(np.mean(day_amounts)),
        "amount_max_24h": max(day_amounts),
        "amount_std_24h": float(np.std(day_amounts)),
        "distinct_countries_24h": len({c for _, c in day} | {country}),
        "distinct_merchants_24h": 1,
        "seconds_since_prev": (
            (now - earlier_orders[-1][1]).total_seconds() if earlier_orders else -1.0
        ),
        "amount_vs_history": amount / float(np.mean(history)) if history else 1.0,
        "cep_alerts_24h": cep_alerts_24h,
    }
    return pd.DataFrame([row])
