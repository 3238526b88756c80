"""Model training as a Ray job (jobs/ray/train_fraud_model.py), one job per model version."""

from __future__ import annotations

import asyncio
import shlex

from psycopg_pool import AsyncConnectionPool

from activities.contract import implements
from activities.pipeline.engine_jobs import supervise
from core.engines.ray_jobs import RayJob, job_python
from core.settings import Settings
from domain.pipeline.evaluation import evaluate_test_scores
from domain.pipeline.features import FEATURES
from domain.pipeline.models import TrainingRequest, TrainingResult
from workflows.pipeline import activities as declared


class TrainingActivities:
    def __init__(self, settings: Settings, pool: AsyncConnectionPool):
        self.settings = settings
        self.pool = pool

    def training_job(self, request: TrainingRequest) -> RayJob:
        options = request.settings
        arguments = [
            job_python(self.settings),
            "train_fraud_model.py",
            "--features-dir",
            str(self.settings.lake_dir / "features"),
            "--runs",
            ",".join(request.etl_run_ids),
            "--version-id",
            request.version_id,
            "--model-store",
            str(self.settings.model_store_dir),
            "--trials",
            str(options.trials),
            "--holdout-fraction",
            str(options.holdout_fraction),
            "--delay-days",
            str(self.settings.fraud_label_delay_days),
            "--alert-budget",
            str(options.alert_budget),
            "--features",
            ",".join(FEATURES),
        ]
        if request.champion is not None:
            arguments += ["--champion-artifact", request.champion.artifact_path]
        return RayJob(self.settings, request.submission_id, shlex.join(arguments))

    @implements(declared.run_training_job)
    async def run_training_job(self, request: TrainingRequest) -> TrainingResult:
        summary = await supervise(self.training_job(request), self.pool)
        result = TrainingResult.model_validate_json(summary)
        if result.test_scores is None or result.protocol is None:
            return result
        evaluation = await asyncio.to_thread(
            evaluate_test_scores,
            result.test_scores,
            result.protocol,
            request.settings.alert_budget,
            request.settings.card_k,
        )
        return result.model_copy(update={"evaluation": evaluation})
