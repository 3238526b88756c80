"""watch_job's reading of Flink's restarts: a job Flink restarts because no TaskManager offers
slots yet (a TaskManager lost, coming back) recovers from its checkpoint on its own and must
not be resubmitted; a job that keeps failing for any other reason is reported RESTARTING.

Flink's REST answers are scripted here (the TaskManager-kill integration test shows the real
ones, but when Flink restarts for slots depends on timing it does not control)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.fraud import flink_jobs
from activities.fraud.flink_jobs import FlinkJobActivities
from core.settings import Settings
from domain.fraud.monitor import WatchJob

SLOTS = (
    "org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException: Could not"
    " acquire the minimum required resources."
)
FAILING = "java.lang.IllegalStateException: the job's own failure"


class RunningAfterRestarts:
    """A running job that Flink has restarted `restarts` times, the last time for `exception`."""

    def __init__(self, restarts: int, exception: str):
        self.restart_count = restarts
        self.exception = exception

    def job(self, job_id: str) -> dict[str, Any]:
        return {"state": "RUNNING", "vertices": [{"status": "RUNNING", "metrics": {}}]}

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return {}

    def taskmanagers(self) -> int:
        return 1

    def restarts(self, job_id: str) -> int:
        return self.restart_count

    def last_exception(self, job_id: str) -> str:
        return self.exception


async def watch(monkeypatch: pytest.MonkeyPatch, flink: RunningAfterRestarts) -> Any:
    monkeypatch.setattr(flink_jobs, "FlinkRest", lambda settings: flink)
    request = WatchJob(
        job_id="j1",
        poll_interval=timedelta(milliseconds=20),
        watch_period=timedelta(milliseconds=200),
        report_after_restarts=3,
        restarts_counted_from=0,
        reported_state="RUNNING",
    )
    return await ActivityEnvironment().run(FlinkJobActivities(Settings()).watch_job, request)


async def test_restarts_that_waited_for_slots_are_not_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    progress = await watch(monkeypatch, RunningAfterRestarts(4, SLOTS))
    assert progress.state == "RUNNING"
    assert progress.restarts_counted_from == 4  # counted again from here


async def test_a_job_that_keeps_failing_is_reported_restarting_with_its_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    progress = await watch(monkeypatch, RunningAfterRestarts(3, FAILING))
    assert progress.state == "RESTARTING"
    assert progress.last_exception == FAILING
