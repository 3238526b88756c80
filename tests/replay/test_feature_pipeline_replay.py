"""Replay the stored histories of the feature pipeline and its child workflows (ETL, training):
a promotion, a kept champion, a promotion rolled back after the smoke check, and a pipeline
cancelled during training (`hybrid histories record --branch feature_pipeline`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER
from tools.histories.feature_pipeline import PIPELINE_HISTORY_DIR
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.pipeline.feature_etl import FeatureEtlWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow
from workflows.pipeline.model_training import ModelTrainingWorkflow

HISTORIES = sorted(PIPELINE_HISTORY_DIR.glob("*.json"))


def events(path: Path) -> list[dict]:
    return json.loads(path.read_text())["events"]


def activities_of(path: Path) -> list[str]:
    return [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events(path)
        if "activityTaskScheduledEventAttributes" in e
    ]


def load(path: Path) -> WorkflowHistory:
    started = events(path)[0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started["workflowId"], path.read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[FeaturePipelineWorkflow, FeatureEtlWorkflow, ModelTrainingWorkflow],
        data_converter=DATA_CONVERTER,
        interceptors=WORKFLOW_INTERCEPTORS,
    )
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_the_stored_runs_cover_every_outcome() -> None:
    def stored(name: str) -> Path:
        return PIPELINE_HISTORY_DIR / f"{name}.v1.json"

    assert activities_of(stored("promoted"))[-1] == "smoke_check_champion"
    assert activities_of(stored("kept_champion"))[-1] == "move_aliases"  # the challenger only
    assert activities_of(stored("rolled_back"))[-1] == "roll_back_alias_change"
    assert activities_of(stored("cancelled.training")) == ["run_training_job", "stop_engine_job"]
    assert events(stored("cancelled"))[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"
    assert activities_of(stored("promoted.etl")) == ["plan_etl_run", "run_etl_job"]
