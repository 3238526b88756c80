"""Replay the stored histories of FraudMonitorWorkflow: a run that continued as new, a run that
was cancelled and cancelled its Flink job, a run whose thresholds were changed by the Update
through a savepoint (the SQL job), a run whose rules changed live (the fused job; one change
refused), and an upgrade through a savepoint (`hybrid histories record --branch fraud_monitor`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER
from tools.histories.fraud_monitor import MONITOR_HISTORY_DIR
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow

HISTORIES = sorted(MONITOR_HISTORY_DIR.glob("*.json"))


def activities_of(path: Path) -> list[str]:
    return [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in json.loads(path.read_text())["events"]
        if "activityTaskScheduledEventAttributes" in e
    ]


def load(path: Path) -> WorkflowHistory:
    text = path.read_text()
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started["workflowId"], text)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[FraudMonitorWorkflow],
        data_converter=DATA_CONVERTER,
        interceptors=WORKFLOW_INTERCEPTORS,
    )
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_the_stored_runs_cover_continue_as_new_and_cancellation() -> None:
    assert activities_of(MONITOR_HISTORY_DIR / "continued_as_new.v1.json") == [
        "submit_job",
        "watch_job",
    ]
    assert activities_of(MONITOR_HISTORY_DIR / "cancelled.v1.json")[-1] == "cancel_job"


def test_a_stored_run_covers_the_threshold_update() -> None:
    path = MONITOR_HISTORY_DIR / "threshold_update.v1.json"
    events = json.loads(path.read_text())["events"]
    assert any("workflowExecutionUpdateCompletedEventAttributes" in e for e in events)
    activities = activities_of(path)
    switch = activities.index("stop_with_savepoint")
    assert activities[switch + 1] == "submit_job", "the job restarts from the savepoint"


def test_stored_runs_cover_the_live_rule_change_and_the_upgrade() -> None:
    [rule_change] = sorted(MONITOR_HISTORY_DIR.glob("rule_change.*.json"))[-1:]
    activities = activities_of(rule_change)
    assert activities.count("apply_rules") == 2  # one taken, one refused
    assert "stop_with_savepoint" not in activities  # no restart
    [upgrade] = sorted(MONITOR_HISTORY_DIR.glob("upgrade.*.json"))[-1:]
    activities = activities_of(upgrade)
    switch = activities.index("stop_with_savepoint")
    assert activities[switch + 1] == "submit_job", "the job restarts from the savepoint"
