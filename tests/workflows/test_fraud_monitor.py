"""FraudMonitorWorkflow's threshold Update (live for the fused job, through a savepoint for the
SQL job), its job upgrade and its cancellation, with a scripted Flink standing in
for the session cluster (the real one is exercised in tests/integration/test_fraud_streaming.py,
where a cancellation cannot be aimed this precisely). On a dev server of their own: the
time-skipping test server refuses to cancel an activity that waits for its cancellation
("ACTIVITY_UNKNOWN"), which a real server accepts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.temporal import DATA_CONVERTER
from core.toolchain import venv_tool
from domain.fraud.monitor import (
    CepThresholds,
    MonitorRequest,
    MonitorView,
)
from tests.support.scripted_fraud import ScriptedFlink
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow


@pytest.fixture
async def monitor_env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
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
        env.client,
        task_queue=task_queue,
        workflows=[FraudMonitorWorkflow],
        interceptors=WORKFLOW_INTERCEPTORS,
        max_cached_workflows=0,
    )


@pytest.fixture
async def flink(monitor_env: WorkflowEnvironment) -> AsyncIterator[tuple[ScriptedFlink, str]]:
    scripted = ScriptedFlink()
    task_queue = f"monitor-{uuid.uuid4().hex[:6]}"
    async with Worker(
        monitor_env.client,
        task_queue=task_queue,
        workflows=[FraudMonitorWorkflow],
        interceptors=WORKFLOW_INTERCEPTORS,
        activities=scripted.activities(),
    ):
        yield scripted, task_queue


async def start(
    env: WorkflowEnvironment, task_queue: str, thresholds: CepThresholds, **request: Any
) -> WorkflowHandle:
    name = f"fraud-cep-{uuid.uuid4().hex[:6]}"
    request.setdefault("engine", "sql")  # the savepoint path, unless a test says otherwise
    return await env.client.start_workflow(
        FraudMonitorWorkflow.run,
        MonitorRequest(
            job_name=name,
            thresholds=thresholds,
            poll_interval=timedelta(milliseconds=50),
            **request,
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


async def fused_monitor_running(
    env: WorkflowEnvironment, task_queue: str
) -> tuple[WorkflowHandle, MonitorView]:
    """A monitor of the fused job, once its job runs."""
    handle = await start(env, task_queue, CepThresholds(), engine="fused")
    return handle, await running(handle)


async def test_the_fused_job_takes_new_thresholds_live_as_the_next_rule_version(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    scripted, task_queue = flink
    handle, before = await fused_monitor_running(monitor_env, task_queue)
    assert before.rule_version > 0  # from the time the monitor started: newer than any before

    after = await handle.execute_update(
        "update_thresholds", {"velocity_count": 5}, result_type=MonitorView
    )

    [published] = scripted.rule_sets
    assert published.version > before.rule_version
    assert published.thresholds == CepThresholds(velocity_count=5)
    assert (after.rule_version, after.thresholds) == (published.version, published.thresholds)
    assert len(scripted.submissions) == 1  # no restart
    assert before.job_id is not None
    assert after.job_id == before.job_id
    assert scripted.state(before.job_id) == "RUNNING"


async def test_a_rule_set_the_job_refuses_fails_the_update_and_the_old_one_stays(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    _, task_queue = flink
    handle, before = await fused_monitor_running(monitor_env, task_queue)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("update_thresholds", {"card_testing_small": 300.0})

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ThresholdsRefused"
    assert "card_testing_small must be below card_testing_large" in cause.message
    view = await handle.query(FraudMonitorWorkflow.state)
    assert (view.rule_version, view.thresholds) == (before.rule_version, before.thresholds)
    # and the next change goes through
    after = await handle.execute_update(
        "update_thresholds", {"velocity_count": 6}, result_type=MonitorView
    )
    assert after.thresholds == CepThresholds(velocity_count=6)


async def test_a_rule_set_not_applied_in_time_is_withdrawn_by_the_next_version(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    scripted, task_queue = flink
    handle, before = await fused_monitor_running(monitor_env, task_queue)
    scripted.rules_unanswered = True

    with pytest.raises(WorkflowUpdateFailedError) as unanswered:
        await handle.execute_update("update_thresholds", {"velocity_count": 5})

    cause = unanswered.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "RulesNotApplied"
    unapplied, withdrawal = scripted.rule_sets
    assert unapplied.thresholds == CepThresholds(velocity_count=5)
    # the job, whenever it reads the topic, ends on the rules the monitor says are in force
    assert (withdrawal.version, withdrawal.thresholds) == (unapplied.version + 1, CepThresholds())
    assert f"withdrawn: rule set {withdrawal.version}" in cause.message
    view = await handle.query(FraudMonitorWorkflow.state)
    assert (view.rule_version, view.thresholds) == (withdrawal.version, before.thresholds)
    assert len(scripted.submissions) == 1  # no restart


async def test_an_upgrade_restarts_the_job_from_a_savepoint_with_its_rules(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    scripted, task_queue = flink
    handle, _ = await fused_monitor_running(monitor_env, task_queue)
    changed = await handle.execute_update(
        "update_thresholds", {"velocity_count": 7}, result_type=MonitorView
    )
    assert changed.job_id is not None

    upgraded = await handle.execute_update(
        "upgrade_job", {"reason": "a new detector"}, result_type=MonitorView
    )

    assert scripted.state(changed.job_id) == "FINISHED"  # stopped with a savepoint
    restart = scripted.submissions[-1]
    assert restart.savepoint == f"file:/savepoints/{changed.job_id}"
    assert restart.spec.thresholds == CepThresholds(velocity_count=7)
    assert restart.spec.rule_version == changed.rule_version
    assert (upgraded.state, upgraded.rule_version) == ("RUNNING", changed.rule_version)


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


async def test_thresholds_the_job_cannot_take_are_refused_and_the_old_ones_restored(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    """Huge windows passed the validator and the job was stopped, then never resubmitted: the
    update hung, the monitor stayed SAVEPOINTING and detection stayed down."""
    scripted, task_queue = flink
    handle = await start(monitor_env, task_queue, CepThresholds())
    before = await running(handle)

    # out of range: refused by the validator, before the running job is touched
    with pytest.raises(WorkflowUpdateFailedError) as out_of_range:
        await handle.execute_update("update_thresholds", {"velocity_window_s": 100_000_000_000})
    assert "less than or equal to 604800" in str(out_of_range.value.cause)
    assert scripted.state(before.job_id or "") == "RUNNING"

    # within range, but refused by the cluster: the old thresholds come back from the savepoint
    scripted.refuses = lambda thresholds: thresholds.velocity_count == 99
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("update_thresholds", {"velocity_count": 99})
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "ThresholdsRefused"
    after = await running(handle)
    assert after.thresholds == CepThresholds()
    restored = scripted.submissions[-1]
    assert restored.savepoint == f"file:/savepoints/{before.job_id}"
    assert restored.spec.thresholds == CepThresholds()

    # and the monitor still takes a good change
    changed = await handle.execute_update(
        "update_thresholds", {"velocity_count": 10}, result_type=MonitorView
    )
    assert changed.thresholds.velocity_count == 10
    await handle.cancel()


async def test_a_job_flink_keeps_restarting_is_reported_and_restarted_by_the_monitor(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    """A job reading a topic it could not use restarted forever while `state` said RUNNING."""
    scripted, task_queue = flink
    scripted.restarting = True
    handle = await start(
        monitor_env, task_queue, CepThresholds(), max_restart_backoff=timedelta(seconds=1)
    )
    seen: set[str] = set()
    for _ in range(200):
        view = await handle.query(FraudMonitorWorkflow.state)
        seen.add(view.state)
        if view.restarts >= 2:
            break
        await asyncio.sleep(0.05)
    assert "RESTARTING" in seen, seen
    assert view.progress is not None
    assert view.progress.last_exception == "org.apache.kafka: topic tx-missing does not exist"
    # the monitor took the restarts over: each restarting job cancelled, then resubmitted
    assert len(scripted.cancellations) >= 2
    assert len(scripted.submissions) >= 2

    scripted.restarting = False  # the cause is fixed: the next submission runs
    assert (await running(handle)).state == "RUNNING"
    await handle.cancel()


async def test_a_job_that_stops_processing_is_reported_recovering_until_it_runs_again(
    monitor_env: WorkflowEnvironment, flink: tuple[ScriptedFlink, str]
) -> None:
    """A TaskManager lost: the state says RECOVERING and why, updates wait, the interruption
    is counted; back to RUNNING on the same job, with no resubmission."""
    scripted, task_queue = flink
    handle = await start(monitor_env, task_queue, CepThresholds())
    job_id = (await running(handle)).job_id
    assert job_id is not None
    scripted.jobs[job_id] = (scripted.jobs[job_id][0], "RECOVERING")

    for _ in range(200):
        view = await handle.query(FraudMonitorWorkflow.state)
        if view.state == "RECOVERING":
            break
        await asyncio.sleep(0.05)
    assert view.state == "RECOVERING"
    assert view.interruptions == 1
    assert view.last_interruption is not None
    assert "no TaskManager is registered" in view.last_interruption
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("update_thresholds", {"velocity_count": 9})
    assert "the CEP job is RECOVERING: retry once it runs" in str(refused.value.cause)

    scripted.jobs[job_id] = (scripted.jobs[job_id][0], "RUNNING")
    again = await running(handle)
    assert again.job_id == job_id
    assert again.interruptions == 1
    assert again.restarts == 0
    assert len(scripted.submissions) == 1
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
