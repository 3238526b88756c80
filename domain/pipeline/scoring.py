"""Scoring with registered models: an artifact is loaded once per version and kept, and an
order's features are computed as the ETL computes them for a card transaction."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from pydantic import BaseModel, ConfigDict

from domain.pipeline.features import MERCHANT_FEATURES


@functools.lru_cache(maxsize=4)
def load_model(version_id: str, artifact_path: str) -> dict[str, Any]:
    """The artifact ({model, features, version_id}); versions are immutable, so caching by
    version id is safe."""
    artifact = joblib.load(artifact_path)
    if artifact.get("version_id") != version_id:
        raise ValueError(f"{artifact_path} holds {artifact.get('version_id')}, not {version_id}")
    return artifact


def fraud_scores(artifact: dict[str, Any], features: pd.DataFrame) -> np.ndarray[Any, Any]:
    """Each row's fraud probability, from the features the model was trained on."""
    columns = artifact["features"]
    scores: np.ndarray[Any, Any] = artifact["model"].predict_proba(
        features[columns].astype("float64").fillna(0.0)
    )[:, 1]
    return scores


def feature_rows(outputs: list[str], since: datetime) -> pd.DataFrame:
    """The feature rows at or after `since` in the given committed ETL outputs."""
    dataset = ds.dataset(
        [ds.dataset(path, format="parquet", partitioning="hive") for path in outputs]
    )
    return dataset.to_table(filter=ds.field("ts") >= pd.Timestamp(since)).to_pandas()


class CardHistory(BaseModel):
    """A card's earlier orders as the features need them: counts, sums and extremes over the
    windows before the order, the countries of the last 24 hours, the mean and the latest of all
    of them, and the card's CEP alerts of the last 24 hours (the screen_order activity aggregates
    them in the database)."""

    model_config = ConfigDict(frozen=True)

    count_5m: int
    count_1h: int
    sum_1h: float
    count_24h: int
    sum_24h: float
    sum_squares_24h: float
    count_7d: int
    sum_7d: float
    count_30d: int
    sum_30d: float
    max_24h: float | None
    countries_24h: list[str]
    mean_total: float | None
    previous_at: datetime | None
    cep_alerts_24h: int


def order_features(
    amount: float, country: str, now: datetime, history: CardHistory
) -> pd.DataFrame:
    """The model's features (domain.pipeline.features) for an order, defined as the ETL defines
    them for a card transaction: the windows hold the card's earlier orders and this one. The
    shop is one merchant, and not one of the card stream's: its merchant features are those of
    a merchant without history (0)."""
    count_24h, count_7d, count_30d = (
        c + 1 for c in (history.count_24h, history.count_7d, history.count_30d)
    )
    mean_24h = (history.sum_24h + amount) / count_24h
    mean_7d, mean_30d = (history.sum_7d + amount) / count_7d, (history.sum_30d + amount) / count_30d
    hour = now.astimezone(UTC).hour
    variance_24h = (history.sum_squares_24h + amount * amount) / count_24h - mean_24h**2
    row = {
        "amount": amount,
        "txn_count_5m": history.count_5m + 1,
        "txn_count_1h": history.count_1h + 1,
        "txn_count_24h": count_24h,
        "amount_sum_1h": history.sum_1h + amount,
        "amount_avg_24h": mean_24h,
        "amount_max_24h": max(history.max_24h or amount, amount),
        "amount_std_24h": float(np.sqrt(max(variance_24h, 0.0))),
        "distinct_countries_24h": len(set(history.countries_24h) | {country}),
        "distinct_merchants_24h": 1,
        "seconds_since_prev": (
            (now - history.previous_at).total_seconds() if history.previous_at else -1.0
        ),
        "amount_vs_history": amount / history.mean_total if history.mean_total else 1.0,
        "txn_count_7d": count_7d,
        "txn_count_30d": count_30d,
        "amount_avg_7d": mean_7d,
        "amount_avg_30d": mean_30d,
        "amount_vs_avg_24h": amount / mean_24h,
        "amount_vs_avg_7d": amount / mean_7d,
        "amount_vs_avg_30d": amount / mean_30d,
        "hour_of_day": hour,
        "is_night": int(hour < 6),
        "is_weekend": int(now.astimezone(UTC).weekday() >= 5),
        **dict.fromkeys(MERCHANT_FEATURES, 0),
        "cep_alerts_24h": history.cep_alerts_24h,
    }
    return pd.DataFrame([row])
