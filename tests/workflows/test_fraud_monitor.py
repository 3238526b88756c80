"""FraudMonitorWorkflow's threshold Update and its cancellation, with a scripted Flink standing in
for the session cluster (the real one is exercised in tests/integration/test_fraud_streaming.py,
where a cancellation cannot be aimed this precisely). On a dev server of their own: the
time-skipping test server refuses to cancel an activity that waits for its cancellation
("ACTIVITY_UNKNOWN"), which a real server accepts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contract import implements
from core.toolchain import venv_tool
from domain.fraud.monitor import (
    CancelJob,
    CepThresholds,
    JobHandle,
    JobProgress,
    MonitorRequest,
    MonitorView,
    StopJob,
    SubmitCepJob,
    WatchJob,
)
from workflows.fraud import activities as declared
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow


@dataclass
class ScriptedFlink:
    """Jobs in memory, by id, with the name they were submitted under; `hold_submission` keeps
    a submission in flight until the test releases it; `end_watch` makes the watch of a
    running job return, as at the end of a watch period."""

    jobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, state)
    submissions: list[SubmitCepJob] = field(default_factory=list)
    cancellations: list[CancelJob] = field(default_factory=list)
    hold_submission: bool = False
    submitting: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    watching: asyncio.Event = field(default_factory=asyncio.Event)
    end_watch: asyncio.Event = field(default_factory=asyncio.Event)

    def state(self, job_id: str) -> str:
        return self.jobs[job_id][1]

    def activities(self) -> list:
        @implements(declared.submit_job)
        async def submit_job(request: SubmitCepJob) -> JobHandle:
            if self.hold_submission:
                self.submitting.set()
                await self.release.wait()
            self.submissions.append(request)
            job_id = f"job-{len(self.submissions)}"
            self.jobs[job_id] = (request.spec.job_name, "RUNNING")
            return JobHandle(job_id=job_id, job_name=request.spec.job_name, attached=False)

        @implements(declared.watch_job)
        async def watch_job(request: WatchJob) -> JobProgress:
            self.watching.set()
            while self.state(request.job_id) == "RUNNING" and not self.end_watch.is_set():
                activity.heartbeat()
                await asyncio.sleep(0.05)
            return JobProgress(job_id=request.job_id, state=self.state(request.job_id))

        @implements(declared.stop_with_savepoint)
        async def stop_with_savepoint(request: StopJob) -> str:
            name, state = self.jobs[request.job_id]
            if state != "RUNNING":  # as the real activity answers for a failed job
                raise ApplicationError(
                    f"job is {state}", type=declared.JOB_NOT_RUNNING, non_retryable=True
                )
            self.jobs[request.job_id] = (name, "FINISHED")
            return f"file:/savepoints/{request.job_id}"

        @implements(declared.cancel_job)
        async def cancel_job(request: CancelJob) -> str:
            self.cancellations.append(request)
            for job_id, (name, state) in self.jobs.items():
                if job_id == request.job_id or (name == request.job_name and state == "RUNNING"):
                    self.jobs[job_id] = (name, "CANCELED")
            return "CANCELED"

        return [submit_job, watch_job, stop_with_savepoint, cancel_job]


@pytest.fixture
async def monitor_env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(venv_tool("temporal")),
        dev_server_log_level="error",
    )
    async with environment:
        yield environment


@pytest.fixture
async def flink_activities(
    monitor_env: WorkflowEnvironment,
) -> AsyncIterator[tuple[ScriptedFlink, str]]:
    """The scripted Flink on a worker of its own, with no workflows: the test runs (and stops)
    the workflow worker itself."""
    scripted = ScriptedFlink()
    task_queue = f"monitor-{uuid.uuid4().hex[:6]}"
    async with Worker(monitor_env.client, task_queue=task_queue, activities=scripted.activities()):
        yield scripted, task_queue


def workflow_worker(env: WorkflowEnvironment, task_queue: str) -> Worker:
    # no cache: each workflow task replays the history, as a restarted worker would
    return Worker(
        env.client, task_queue=task_queue, workflows=[FraudMonitorWorkflow], max_cached_workflows=0
    )


@pytest.fixture
async def flink(monitor_env: WorkflowEnvironment) -> AsyncIterator[tuple[ScriptedFlink, str]]:
    scripted = ScriptedFlink()
    task_queue = f"monitor-{uuid.uuid4().hex[:6]}"
    async with Worker(
        monitor_env.client,
        task_queue=task_queue,
        workflows=[FraudMonitorWorkflow],
        activities=scripted.activities(),
    ):
        yield scripted, task_queue


async def start(
    env: WorkflowEnvironment, task_queue: str, thresholds: CepThresholds
) -> WorkflowHandle:
    name = f"fraud-cep-{uuid.uuid4().hex[:6]}"
    return await env.client.start_workflow(
        FraudMonitorWorkflow.run,
        MonitorRequest(
            job_name=name, thresholds=thresholds, poll_interval=timedelta(milliseconds=50)
        ),
        id=f"fraud-monitor-{name}",
        task_queue=task_queue,
    )


async def running(handle: WorkflowHandle) -> MonitorView:
    for _ in range(200):
        view = await handle.query(FraudMonitorWorkflow.state)
        if view.state == "RUNNING":
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"the monitor never ran its job: {view}")


async def test_a_partial_threshold_update_keeps_the_other_thresholds(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    scripted, task_queue = flink
    handle = await start(monitor_env, task_queue, CepThresholds(velocity_count=12))
    before = await running(handle)
    assert before.job_id is not None

    # what `temporal workflow update execute --input '{"travel_max_kmh": 850}'` sends
    after = await handle.execute_update(
        "update_thresholds", {"travel_max_kmh": 850.0}, result_type=MonitorView
    )

    assert after.thresholds == CepThresholds(velocity_count=12, travel_max_kmh=850.0)
    assert scripted.state(before.job_id) == "FINISHED"  # stopped with a savepoint
    restart = scripted.submissions[-1]
    assert restart.savepoint == f"file:/savepoints/{before.job_id}"
    assert restart.spec.thresholds == CepThresholds(velocity_count=12, travel_max_kmh=850.0)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()


async def test_cancelled_while_submitting_it_cancels_the_job_the_submission_started(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    scripted, task_queue = flink
    scripted.hold_submission = True
    handle = await start(monitor_env, task_queue, CepThresholds())
    await asyncio.wait_for(scripted.submitting.wait(), 10)

    await handle.cancel()
    scripted.release.set()  # the submission, unaware of the cancellation, starts the job
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 30)

    assert scripted.state("job-1") == "CANCELED"
    assert scripted.cancellations[-1].job_id == "job-1"
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED


async def update_arriving_with_the_end_of_the_watch(
    env: WorkflowEnvironment,
    scripted: ScriptedFlink,
    task_queue: str,
    end_watch: Callable[[], None],
) -> tuple[WorkflowHandle, MonitorView, MonitorView]:
    """Start a monitor, then, while no workflow worker runs, send an update and end the watch
    (`end_watch`): the next workflow task holds both. Returns the monitor, its view before, and
    the update's answer."""
    async with workflow_worker(env, task_queue):
        handle = await start(env, task_queue, CepThresholds(velocity_count=12))
        before = await running(handle)
        await asyncio.wait_for(scripted.watching.wait(), 10)
    update = asyncio.create_task(
        handle.execute_update(
            FraudMonitorWorkflow.update_thresholds, CepThresholds(velocity_count=11)
        )
    )
    await asyncio.sleep(1)  # the update reaches the server, which waits for a worker
    end_watch()
    for _ in range(100):  # the watch's end is in the history (the submission's came first)
        events = [event async for event in handle.fetch_history_events()]
        if sum(event.HasField("activity_task_completed_event_attributes") for event in events) > 1:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the watch never completed")
    scripted.end_watch.clear()
    async with workflow_worker(env, task_queue):
        after = await asyncio.wait_for(update, 30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    return handle, before, after


async def test_an_update_accepted_as_the_watch_period_ends_switches_through_a_savepoint(
    monitor_env: WorkflowEnvironment, flink_activities: tuple[ScriptedFlink, str]
) -> None:
    scripted, task_queue = flink_activities
    _, before, after = await update_arriving_with_the_end_of_the_watch(
        monitor_env, scripted, task_queue, scripted.end_watch.set
    )
    assert (after.thresholds, after.state) == (CepThresholds(velocity_count=11), "RUNNING")
    restart = scripted.submissions[-1]
    assert restart.savepoint == f"file:/savepoints/{before.job_id}"
    assert restart.spec.thresholds == CepThresholds(velocity_count=11)


async def test_an_update_accepted_as_the_job_fails_restarts_it_with_the_new_thresholds(
    monitor_env: WorkflowEnvironment, flink_activities: tuple[ScriptedFlink, str]
) -> None:
    """The job's failure and the update in one workflow task: there is no savepoint to take,
    so the job restarts from its committed offsets with the new thresholds, and the update is
    answered (it used to wait forever: the monitor tried to savepoint the failed job)."""
    scripted, task_queue = flink_activities

    def fail_the_job() -> None:
        scripted.jobs["job-1"] = (scripted.jobs["job-1"][0], "FAILED")

    _, _, after = await update_arriving_with_the_end_of_the_watch(
        monitor_env, scripted, task_queue, fail_the_job
    )
    assert (after.thresholds, after.state) == (CepThresholds(velocity_count=11), "RUNNING")
    assert after.restarts == 1
    restart = scripted.submissions[-1]
    assert restart.savepoint is None
    assert restart.spec.thresholds == CepThresholds(velocity_count=11)
