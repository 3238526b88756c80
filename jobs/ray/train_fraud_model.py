"""Fraud classifier training: features from the lake, a small hyperparameter search fanned out
as Ray tasks, a time-based holdout, and a model artifact with its metrics in the model store.

    ray job submit --address http://localhost:8265 --working-dir jobs/ray \
        --runtime-env jobs/ray/runtime_env.yaml -- \
        python train_fraud_model.py --features-dir $PWD/.stack/lake/features \
        --features amount,txn_count_5m,txn_count_1h,txn_count_24h,amount_sum_1h,amount_avg_24h \
        --runs etl-1,etl-2 --version-id fraud-v1 --model-store $PWD/.stack/models

Reads the committed feature runs with Ray Data and splits them by time, as fraud labels arrive:
the test period is the last --holdout-fraction of the rows; before it, a gap of --delay-days
(fraud labels arrive days late; at most a quarter of the time before the test period, for short
streams) is left out; the rest trains, split again by time into training and validation for
the search. On each test day, cards already known to be compromised when the day began (a fraud
of theirs labelled by then: older than the delay) are removed. Each candidate of the grid is one
Ray task; the best one by validation PR-AUC is refitted on all the training data and evaluated
on the test period, next to two baselines fitted on the same rows (a logistic regression and a
random forest) and the champion, if given, so that every report shows whether the model beats
simple ones.

The test rows with every model's score go to test_scores.parquet beside the model, for the
metrics fraud teams use (the training activity computes them: domain/pipeline/evaluation.py);
the summary carries PR-AUC, precision and recall at 0.5 and at the --alert-budget share.

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
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_score, recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LABEL = "is_fraud"
# what the evaluation needs of each test row besides the scores
TEST_COLUMNS = ["ts", "card_id", "fraud_pattern", LABEL]
BASELINES = ("logistic_regression", "random_forest")
RF_TREE_ROWS = 250_000
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
        [*dict.fromkeys([*TEST_COLUMNS, *features])]
    )
    frame = dataset.to_pandas()
    frame[features] = frame[features].astype("float64").fillna(0.0)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def split_by_time(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cutoff = frame["ts"].quantile(1 - fraction)
    return frame[frame["ts"] < cutoff], frame[frame["ts"] >= cutoff]


def protocol_split(
    frame: pd.DataFrame, fraction: float, delay_days: float
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(training rows, test rows, what was done): the test period, the delay before it left
    out, and the test rows of cards known to be compromised on their day removed."""
    test_start = frame["ts"].quantile(1 - fraction)
    delay = min(pd.Timedelta(days=delay_days), (test_start - frame["ts"].min()) / 4)
    train = frame[frame["ts"] < test_start - delay]
    test = frame[frame["ts"] >= test_start]
    # a card's compromise is known once its first labelled fraud is older than the delay; a
    # test day's rows are judged with what was known when the day began (a stream of minutes,
    # one day, has nothing removed)
    known_at = frame[frame[LABEL] == 1].groupby("card_id")["ts"].min() + delay
    known = test["card_id"].map(known_at) <= test["ts"].dt.floor("D")
    kept = test[~known.fillna(False).astype(bool)]
    protocol = {
        "train_start": train["ts"].min().isoformat(),
        "train_end": train["ts"].max().isoformat(),
        "delay_seconds": delay.total_seconds(),
        "delay_days_requested": delay_days,
        "test_start": test_start.isoformat(),
        "test_end": test["ts"].max().isoformat(),
        "train_rows": len(train),
        "test_rows": len(kept),
        "test_frauds": int(kept[LABEL].sum()),
        "known_card_rows_removed": int(len(test) - len(kept)),
    }
    return train, kept, protocol


def baseline(name: str, seed: int, rows: int) -> ClassifierMixin:
    if name == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    # each tree on a bootstrap of at most RF_TREE_ROWS rows: over millions of rows a full
    # bootstrap per tree made the forest most of the training's time
    return RandomForestClassifier(
        n_estimators=60,
        max_depth=12,
        min_samples_leaf=5,
        max_samples=min(rows, RF_TREE_ROWS),
        n_jobs=1,
        random_state=seed,
    )


@ray.remote(num_cpus=1)
def fit_baseline(
    name: str, features: list[str], train: pd.DataFrame, test: pd.DataFrame, seed: int
) -> tuple[str, np.ndarray]:
    model = baseline(name, seed, len(train)).fit(train[features], train[LABEL])
    return name, model.predict_proba(test[features])[:, 1]


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
    parser.add_argument("--holdout-fraction", type=float, default=0.2, help="the test share")
    parser.add_argument(
        "--delay-days", type=float, default=7, help="the gap between training and test"
    )
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
    learn, holdout, protocol = protocol_split(frame, args.holdout_fraction, args.delay_days)
    train, valid = split_by_time(learn, args.holdout_fraction)
    if learn[LABEL].nunique() < 2 or holdout[LABEL].sum() == 0:
        raise SystemExit("the features need fraud and non-fraud rows in training and test")
    log(
        f"{len(frame)} rows ({int(frame[LABEL].sum())} fraud): training {len(train)}, "
        f"validation {len(valid)}, then {protocol['delay_seconds'] / 86400:.2f} days left out, "
        f"test {len(holdout)} from {protocol['test_start']} "
        f"({protocol['known_card_rows_removed']} rows of known compromised cards removed)"
    )

    candidates = [
        dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())
    ][: args.trials]
    train_ref, valid_ref = ray.put(train), ray.put(valid)
    learn_ref, holdout_ref = ray.put(learn), ray.put(holdout)
    baselines = [
        fit_baseline.remote(name, features, learn_ref, holdout_ref, args.seed) for name in BASELINES
    ]
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
    scores = {"candidate": model.predict_proba(holdout[features])[:, 1]}
    metrics = evaluate(scores["candidate"], holdout[LABEL], args.alert_budget)
    log(f"candidate on the test period: {json.dumps(metrics)}")
    for name, baseline_scores in ray.get(baselines):
        scores[name] = baseline_scores
        judged = evaluate(baseline_scores, holdout[LABEL], args.alert_budget)
        log(f"{name} baseline on the same test rows: {json.dumps(judged)}")

    champion_metrics = None
    if champion is not None:
        scores["champion"] = champion["model"].predict_proba(holdout[champion["features"]])[:, 1]
        champion_metrics = evaluate(scores["champion"], holdout[LABEL], args.alert_budget)
        log(f"champion on the same test rows: {json.dumps(champion_metrics)}")

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
        "protocol": protocol,
        "test_scores": os.path.join(final, "test_scores.parquet"),
        "training_seconds": round(time.monotonic() - started, 1),
    }
    staging = os.path.join(args.model_store, "_staging", args.version_id)
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    joblib.dump(
        {"model": model, "features": features, "version_id": args.version_id},
        os.path.join(staging, "model.joblib"),
    )
    holdout[TEST_COLUMNS].assign(**scores).to_parquet(
        os.path.join(staging, "test_scores.parquet"), index=False
    )
    with open(os.path.join(staging, "metrics.json"), "w") as out:
        json.dump(summary, out)
    os.rename(staging, final)  # the commit
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
