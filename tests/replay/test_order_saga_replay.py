"""Replay every stored history of the order saga with the worker's data converter.

Histories come from real runs (`hybrid histories record --tag <version>`). Files of earlier
versions stay: a patched workflow must still replay runs that started before the patch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER
from tools.histories.order_saga import BRANCHES, HISTORY_DIR
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.orders.order_saga import OrderSagaWorkflow
from workflows.orders.versions import LATEST

HISTORIES = sorted(HISTORY_DIR.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    text = path.read_text()
    workflow_id = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"][
        "workflowId"
    ]
    return WorkflowHistory.from_json(workflow_id, text)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[OrderSagaWorkflow],
        data_converter=DATA_CONVERTER,
        interceptors=WORKFLOW_INTERCEPTORS,
    )
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_every_branch_has_a_history_of_every_version_that_has_it() -> None:
    tags = {p.name.split(".")[1] for p in HISTORIES}
    assert {f"v{version}" for version in range(1, LATEST + 1)} <= tags
    for tag in tags:
        recorded = {p.name.split(".")[0] for p in HISTORIES if p.name.split(".")[1] == tag}
        version = int(tag.removeprefix("v"))
        assert recorded == {b.name for b in BRANCHES if b.since <= version}, tag


def test_a_history_with_compensations_is_really_compensated() -> None:
    history = json.loads((HISTORY_DIR / "cancelled_before_capture.v1.json").read_text())
    activities = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in history["events"]
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert activities[-1] == "close_order"
    assert "release_stock" in activities
    assert "capture_payment" not in activities


def test_a_run_of_v4_records_one_patch_marker_where_v3_recorded_two() -> None:
    def count(version: str, event_type: str) -> int:
        history = json.loads((HISTORY_DIR / f"approved.{version}.json").read_text())
        return sum(e["eventType"] == f"EVENT_TYPE_{event_type}" for e in history["events"])

    assert count("v3", "MARKER_RECORDED") == 2
    assert count("v4", "MARKER_RECORDED") == 1
    # each marker comes with the SDK's TemporalChangeVersion upsert; then COMPLETED's
    assert count("v3", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES") == 3
    assert count("v4", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES") == 2


async def test_the_default_converter_cannot_replay_them() -> None:
    """The replayer must use the worker's converter: without it, decoding fails."""
    replayer = Replayer(workflows=[OrderSagaWorkflow])
    result = await replayer.replay_workflow(
        load(HISTORY_DIR / "approved.v1.json"), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
