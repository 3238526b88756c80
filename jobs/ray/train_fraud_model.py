"""Fraud classifier training: features from the lake, a small hyperparameter search fanned out
as Ray tasks, a time-based holdout, and a model artifact with its metrics in the model store.

    ray job submit --address http://localhost:8265 --working-dir jobs/ray \
        --runtime-env jobs/ray/runtime_env.yaml -- \
        python train_fraud_model.py --features-dir $PWD/.stack/lake/features \
        --features amount,txn_count_5m,txn_count_1h,txn_count_24h,amount_sum_1h,amount_avg_24h \
        --runs etl-1,etl-2 --version-id fraud-v1 --model-store $PWD/.stack/models

Reads the committed feature runs with Ray Data, keeps the last --holdout-fraction of the time
range as the holdout (the model never sees the future it is judged on), and splits the rest
again by time into training and validation for the search. Each candidate of the grid is one
Ray task; the best one by validation PR-AUC is refitted on all the training data and evaluated
on the holdout: PR-AUC, precision and recall at 0.5, and precision and recall when alerting on
the top --alert-budget fraction of transactions. The champion, if given, is scored on the same
holdout so the two can be compared fairly.

Writes <model-store>/<version-id>/{model.joblib,metrics.json} through a staging directory and a
rename, so a failed run leaves nothing; a version already written is not trained again. The
last line of the output is the JSON summary.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import time

import joblib
import numpy as np
import pandas as pd
import ray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, precision_score, recall_score

LABEL = "is_fraud"
GRID: dict[str, list[float]] = {
    "learning_rate": [0.1, 0.05],
    "max_leaf_nodes": [15, 31],
    "l2_regularization": [0.0, 1.0],
}


def log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def load_features(features_dir: str, runs: list[str], features: list[str]) -> pd.DataFrame:
    paths = [os.path.join(features_dir, f"run_id={run}") for run in runs]
    paths = [p for p in paths if any(name.startswith("dt=") for name in os.listdir(p))]
    if not paths:
        raise SystemExit(f"no feature rows in runs {runs} under {features_dir}")
    dataset = ray.data.read_parquet(paths, file_extensions=["parquet"]).select_columns(
        ["ts", *features, LABEL]
    )
    frame = dataset.to_pandas()
    frame[features] = frame[features].astype("float64").fillna(0.0)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def split_by_time(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cutoff = frame["ts"].quantile(1 - fraction)
    return frame[frame["ts"] < cutoff], frame[frame["ts"] >= cutoff]


def make_model(params: dict, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=150, random_state=seed, **params)


@ray.remote(num_cpus=1)
def trial(
    params: dict, features: list[str], train: pd.DataFrame, valid: pd.DataFrame, seed: int
) -> dict:
    model = make_model(params, seed).fit(train[features], train[LABEL])
    scores = model.predict_proba(valid[features])[:, 1]
    return {"params": params, "valid_pr_auc": float(average_precision_score(valid[LABEL], scores))}


def evaluate(scores: np.ndarray, labels: pd.Series, alert_budget: float) -> dict:
    predicted = scores >= 0.5
    top = max(1, math.ceil(alert_budget * len(scores)))
    alerted = np.zeros(len(scores), dtype=bool)
    alerted[np.argsort(-scores, kind="stable")[:top]] = True
    return {
        "pr_auc": float(average_precision_score(labels, scores)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "precision_at_budget": float(precision_score(labels, alerted, zero_division=0)),
        "recall_at_budget": float(recall_score(labels, alerted, zero_division=0)),
        "alert_budget": alert_budget,
        "rows": len(scores),
        "positives": int(labels.sum()),
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features-dir", required=True)
    parser.add_argument(
        "--features", required=True, help="the columns to learn from, comma-separated"
    )
    parser.add_argument("--runs", required=True, help="comma-separated ETL run ids")
    parser.add_argument("--version-id", required=True)
    parser.add_argument("--model-store", required=True)
    parser.add_argument("--champion-artifact", default="")
    parser.add_argument("--holdout-fraction", type=float, default=0.2)
    parser.add_argument("--alert-budget", type=float, default=0.02)
    parser.add_argument("--trials", type=int, default=4, help="grid candidates to try")
    parser.add_argument("--seed", type=int, default=7)
    return parser


def main() -> None:
    args = parser().parse_args()

    final = os.path.join(args.model_store, args.version_id)
    if os.path.exists(os.path.join(final, "metrics.json")):
        log(f"model version {args.version_id} already written: not training it again")
        with open(os.path.join(final, "metrics.json")) as written:
            print(json.dumps(json.load(written) | {"already_written": True}))
        return

    started = time.monotonic()
    ray.init()
    features = args.features.split(",")
    champion = joblib.load(args.champion_artifact) if args.champion_artifact else None
    # the champion is scored on the same holdout, with the features it was trained on
    columns = [*dict.fromkeys([*features, *(champion["features"] if champion else [])])]
    frame = load_features(args.features_dir, [r for r in args.runs.split(",") if r], columns)
    learn, holdout = split_by_time(frame, args.holdout_fraction)
    train, valid = split_by_time(learn, args.holdout_fraction)
    if learn[LABEL].nunique() < 2 or holdout[LABEL].sum() == 0:
        raise SystemExit("the features need fraud and non-fraud rows in training and holdout")
    log(
        f"{len(frame)} rows ({int(frame[LABEL].sum())} fraud): training {len(train)}, "
        f"validation {len(valid)}, holdout {len(holdout)} from {holdout['ts'].min()}"
    )

    candidates = [
        dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())
    ][: args.trials]
    train_ref, valid_ref = ray.put(train), ray.put(valid)
    pending = [
        trial.remote(params, features, train_ref, valid_ref, args.seed) for params in candidates
    ]
    trials = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        trials.append(ray.get(done[0]))
        log(f"trial {len(trials)}/{len(candidates)}: {json.dumps(trials[-1])}")
    best = max(trials, key=lambda t: t["valid_pr_auc"])
    model = make_model(best["params"], args.seed).fit(learn[features], learn[LABEL])
    metrics = evaluate(
        model.predict_proba(holdout[features])[:, 1], holdout[LABEL], args.alert_budget
    )
    log(f"challenger on the holdout: {json.dumps(metrics)}")

    champion_metrics = None
    if champion is not None:
        scores = champion["model"].predict_proba(holdout[champion["features"]])[:, 1]
        champion_metrics = evaluate(scores, holdout[LABEL], args.alert_budget)
        log(f"champion on the same holdout: {json.dumps(champion_metrics)}")

    summary = {
        "version_id": args.version_id,
        "artifact": os.path.join(final, "model.joblib"),
        "metrics": metrics,
        "champion_metrics": champion_metrics,
        "baseline_pr_auc": float(holdout[LABEL].mean()),  # what a constant score achieves
        "best_params": best["params"],
        "trials": trials,
        "rows": {"train": len(learn), "holdout": len(holdout)},
        "holdout_start": holdout["ts"].min().isoformat(),
        "training_seconds": round(time.monotonic() - started, 1),
    }
    staging = os.path.join(args.model_store, "_staging", args.version_id)
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    joblib.dump(
        {"model": model, "features": features, "version_id": args.version_id},
        os.path.join(staging, "model.joblib"),
    )
    with open(os.path.join(staging, "metrics.json"), "w") as out:
        json.dump(summary, out)
    os.rename(staging, final)  # the commit
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
