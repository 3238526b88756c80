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
