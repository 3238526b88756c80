"""FeaturePipelineWorkflow: new transactions become features, features become a model, and the
model replaces the champion only when it is better.

    ETL       child FeatureEtlWorkflow: the records since the last run, as features in the lake
    train     child ModelTrainingWorkflow: a challenger on every committed feature run, scored
              with the champion on the same time-based holdout; registered, alias `challenger`
    decide    promote when there is no champion, or the challenger's holdout PR-AUC beats the
              champion's by `promotion_margin`; otherwise keep the champion
    promote   champion := challenger, previous := the old champion, in one recorded change
    smoke     the registry's champion loads and scores the holdout (PR-AUC >= smoke_min_pr_auc)
              compensation: a failure (or cancellation) after the promotion rolls the aliases
              back to what they were, and the pipeline fails with the reason

Runs on demand (`./hybrid pipeline run`, or `temporal workflow start`) and nightly from a
Temporal Schedule (`./hybrid pipeline schedule ...`). Query `stage`: where it is.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.pipeline.models import (
        AliasRef,
        EtlRunRequest,
        MoveAliases,
        PipelineDecision,
        PipelineRequest,
        PipelineResult,
        SmokeCheck,
        TrainingRequest,
        TrainingResult,
    )
    from workflows.cancellation import is_cancellation
    from workflows.options import ActivityOptions
    from workflows.pipeline import activities as act
    from workflows.pipeline.feature_etl import FeatureEtlWorkflow
    from workflows.pipeline.model_training import ModelTrainingWorkflow
    from workflows.pipeline.options import QUICK

SMOKE_CHECK = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=5), retry_policy=RetryPolicy(maximum_attempts=3)
)


@workflow.defn(failure_exception_types=[ValidationError])
class FeaturePipelineWorkflow:
    def __init__(self) -> None:
        self._stage = "STARTING"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, request: PipelineRequest) -> PipelineResult:
        workflow_id = workflow.info().workflow_id
        # schedules append a timestamp with colons to the workflow id; run ids must be plain
        pipeline_id = re.sub(r"[^A-Za-z0-9_.-]", "-", workflow_id)

        self._stage = "ETL"
        etl = await workflow.execute_child_workflow(
            FeatureEtlWorkflow.run,
            EtlRunRequest(topic=request.topic, run_id=f"etl-{pipeline_id}"),
            id=f"{workflow_id}-etl",
        )
        feature_runs = await QUICK.execute(act.feature_runs, request.topic)
        if not feature_runs:
            raise ApplicationError(
                f"no features yet for topic {request.topic}: send transactions first",
                type="NoFeatures",
                non_retryable=True,
            )

        self._stage = "TRAINING"
        champion = await QUICK.execute(
            act.model_for_alias, AliasRef(model_name=request.model_name, alias="champion")
        )
        training: TrainingResult = await workflow.execute_child_workflow(
            ModelTrainingWorkflow.run,
            TrainingRequest(
                version_id=f"{request.model_name}-{pipeline_id}",
                model_name=request.model_name,
                topic=request.topic,
                etl_run_ids=feature_runs,
                champion=champion,
                settings=request.training,
            ),
            id=f"{workflow_id}-training",
        )
        await self.move_aliases(
            request, f"{pipeline_id}:challenger", {"challenger": training.version_id}
        )

        self._stage = "DECIDING"
        challenger_pr_auc = training.metrics.pr_auc
        if champion is None or training.champion_metrics is None:
            promote, reason = True, "no champion yet"
        else:
            champion_pr_auc = training.champion_metrics.pr_auc
            promote = challenger_pr_auc >= champion_pr_auc + request.promotion_margin
            reason = (
                f"challenger PR-AUC {challenger_pr_auc:.4f} vs champion {champion_pr_auc:.4f} "
                f"on the same holdout (margin {request.promotion_margin})"
            )
        if not promote and champion is not None:
            self._stage = "DONE"
            return PipelineResult(
                etl=etl,
                training=training,
                decision=PipelineDecision.KEPT_CHAMPION,
                champion=champion.version_id,
                reason=reason,
            )

        self._stage = "PROMOTING"
        promotion_id = f"{pipeline_id}:promote"
        updates = {"champion": training.version_id}
        if champion is not None:
            updates["previous"] = champion.version_id
        try:
            # inside: a cancellation while the aliases move still rolls the change back
            await self.move_aliases(request, promotion_id, updates)
            self._stage = "SMOKE_CHECK"
            await SMOKE_CHECK.execute(
                act.smoke_check_champion,
                SmokeCheck(
                    model_name=request.model_name,
                    expected_champion=training.version_id,
                    etl_run_ids=feature_runs,
                    holdout_start=training.holdout_start,
                    min_pr_auc=request.smoke_min_pr_auc,
                ),
            )
        except BaseException as error:
            self._stage = "ROLLING_BACK"
            await QUICK.execute(act.roll_back_alias_change, promotion_id)
            self._stage = "ROLLED_BACK"
            if isinstance(error, ActivityError) and not is_cancellation(error):
                raise ApplicationError(
                    f"promotion of {training.version_id} rolled back: {error.cause}",
                    type="PromotionRolledBack",
                    non_retryable=True,
                ) from error
            raise
        self._stage = "DONE"
        return PipelineResult(
            etl=etl,
            training=training,
            decision=PipelineDecision.PROMOTED,
            champion=training.version_id,
            reason=reason,
        )

    async def move_aliases(
        self, request: PipelineRequest, change_id: str, updates: dict[str, str]
    ) -> None:
        move = QUICK.start(
            act.move_aliases,
            MoveAliases(
                model_name=request.model_name,
                change_id=change_id,
                reason=workflow.info().workflow_id,
                updates=updates,
            ),
        )
        try:
            await asyncio.shield(move)
        except asyncio.CancelledError:
            # the move (one short transaction) is not cancelled with the workflow: it finishes,
            # so that a rollback after it always finds the change recorded
            await move
            raise
