"""Streaming fraud detection end to end: the generator's labelled stream on Kafka, the fused
detector owned by FraudMonitorWorkflow on the session cluster (its rules changed live, its code
upgraded through a savepoint), alerts routed by AlertRouterWorkflow into PostgreSQL and into
running order sagas."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from client.fraud import monitor_request
from core.engines.flink import FlinkRest
from core.kafka import create_topic, read_to_end
from core.settings import Settings
from domain.fraud.evaluation import Evaluation, evaluate
from domain.fraud.events import FraudAlert, FraudPattern, Transaction
from domain.fraud.generator import StreamStats, card_testing_attack, produce
from domain.fraud.monitor import CepThresholds, JobUpgrade, MonitorView
from domain.orders.examples import an_order
from domain.orders.models import OrderStatus
from stack.launcher import Stack
from tests.support.kafka import consume
from tests.support.kafka import produce as produce_raw
from tests.support.worker import ThreadedWorker
from workflows.fraud.alert_router import AlertRouterWorkflow
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow

pytestmark = pytest.mark.usefixtures("seeded")


def known(job_id: str | None) -> str:
    assert job_id, "the monitor has no Flink job yet"
    return job_id


async def fast_run(settings: Settings, run_id: str, seed: int, start: datetime) -> StreamStats:
    """20 s of labelled traffic, sent ahead of the wall clock from event time `start`."""
    return await asyncio.to_thread(
        produce,
        settings,
        settings.transactions_topic,
        run_id=run_id,
        seed=seed,
        rate=150,
        duration_s=20,
        fraud_share=0.012,
        malformed_share=0.0,
        realtime=False,
        start=start,
    )


async def full_recall(settings: Settings, runs: list[str]) -> list[Evaluation]:
    """The evaluations of the runs, once every label is found or after three minutes."""
    for _ in range(180):
        results = [evaluate(settings.postgres_dsn, run) for run in runs]
        if all(r.overall.recall == 1.0 for r in results):
            break
        await asyncio.sleep(1)
    return results


async def start_monitor(client: Client, settings: Settings, job_name: str) -> WorkflowHandle:
    """A monitor over the module's topics, reading them from the start."""
    return await client.start_workflow(
        FraudMonitorWorkflow.run,
        monitor_request(settings, job_name, startup_mode="earliest-offset"),
        id=f"fraud-monitor-{job_name}",
        task_queue=settings.fraud_task_queue,
    )


@pytest.fixture(scope="module")
def stream_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "transactions_topic": create_topic(settings, "transactions", partitions=4),
            "alerts_topic": create_topic(settings, "fraud-alerts", partitions=2),
            "dead_letter_topic": create_topic(settings, "dlq"),
            "fraud_task_queue": f"{settings.fraud_task_queue}-stream",
            "order_task_queue": f"{settings.order_task_queue}-stream",
        }
    )


@pytest.fixture(scope="module")
def stream_worker(stack, stream_settings: Settings) -> Iterator[ThreadedWorker]:
    with ThreadedWorker(stream_settings) as running:
        yield running


@pytest.fixture(scope="module")
async def monitor(
    client: Client, stream_worker, stream_settings: Settings
) -> AsyncIterator[WorkflowHandle]:
    """The monitor and the router for the module; cancelled at the end, which cancels the Flink
    job, so that no job of this module keeps a TaskManager slot."""
    suffix = uuid.uuid4().hex[:6]
    router = await client.start_workflow(
        AlertRouterWorkflow.run,
        f"alert-router-{suffix}",
        id=f"alert-router-{suffix}",
        task_queue=stream_settings.fraud_task_queue,
    )
    handle = await start_monitor(client, stream_settings, f"fraud-cep-test-{suffix}")
    try:
        await running(handle)
        yield handle
    finally:
        for workflow in (handle, router):
            await workflow.cancel()
            with contextlib.suppress(WorkflowFailureError, TimeoutError):
                await asyncio.wait_for(workflow.result(), 60)


async def running(monitor: WorkflowHandle, within_s: float = 120) -> MonitorView:
    """The monitor's view once it says its job runs (every task of it)."""
    deadline = time.monotonic() + within_s
    while True:
        view: MonitorView = await monitor.query(FraudMonitorWorkflow.state)
        if view.state == "RUNNING" and view.job_id:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"the CEP job does not run after {within_s:g} s: {view}")
        await asyncio.sleep(0.5)


async def test_scenarios_are_detected_and_legitimate_traffic_is_not(
    monitor: WorkflowHandle, stream_settings: Settings
) -> None:
    run_id = uuid.uuid4().hex[:6]
    stats = await asyncio.to_thread(
        produce,
        stream_settings,
        stream_settings.transactions_topic,
        run_id=run_id,
        seed=11,
        rate=150,
        duration_s=40,
        fraud_share=0.012,
        malformed_share=0.01,
        realtime=False,
    )
    assert set(stats.scenarios) == set(FraudPattern)
    for _ in range(120):
        result = evaluate(stream_settings.postgres_dsn, run_id)
        if result.overall.recall >= 0.99:
            break
        await asyncio.sleep(1)
    print("\n".join(result.lines()))
    for score in result.scores:
        assert score.recall >= 0.95, score
        assert score.precision >= 0.95, score
    # the malformed events went to the dead-letter topic, and the job kept running
    dead = consume(stream_settings, stream_settings.dead_letter_topic, stats.malformed, 60)
    assert len(dead) == stats.malformed
    view = await monitor.query(FraudMonitorWorkflow.state)
    assert FlinkRest(stream_settings).job(known(view.job_id))["state"] == "RUNNING"


async def test_a_fraud_alert_aborts_a_running_saga(
    client: Client, monitor: WorkflowHandle, stream_settings: Settings
) -> None:
    card = f"card-attacked-{uuid.uuid4().hex[:6]}"
    # an unknown customer's large order waits for review: the saga is in flight
    order = an_order(
        {"SKU-LAPTOP-14": 1}, card_id=card, customer_id="cust-unknown", unit_price="1299.00"
    )
    saga = await client.start_workflow(
        OrderSagaWorkflow.run,
        order,
        id=order.order_id,
        task_queue=stream_settings.order_task_queue,
    )
    for _ in range(100):
        if (await saga.query(OrderSagaWorkflow.status_view)).status is OrderStatus.AWAITING_REVIEW:
            break
        await asyncio.sleep(0.1)
    # after every event already on the topic (the fast stream above runs ahead of the wall
    # clock): older events would be late for the detector's event-time clock
    now = datetime.now(UTC) + timedelta(minutes=10)
    attack = card_testing_attack(card, "cust-unknown", now)
    # ordinary traffic after the attack moves the event-time clock past it
    tail = [
        Transaction(
            txn_id=f"t-{card}-tail-{i}",
            card_id=f"card-bystander-{i}",
            customer_id="cust-bob",
            merchant_id="m-shop",
            merchant_category="grocery",
            amount=Decimal("20.00"),
            currency="EUR",
            country="FR",
            lat=48.85,
            lon=2.35,
            channel="pos",
            event_time=now + timedelta(seconds=12 + i),
        )
        for i in range(40)
    ]
    produce_raw(
        stream_settings,
        stream_settings.transactions_topic,
        [(t.card_id, t.model_dump_json()) for t in [*attack, *tail]],
    )
    result = await asyncio.wait_for(saga.result(), 120)
    assert result.status is OrderStatus.REJECTED
    assert (result.reason or "").startswith(f"fraud alert card_testing-{card}-t-{card}-0")


async def test_monitor_continues_as_new_and_restarts_a_failed_job(
    client: Client, stream_worker, stream_settings: Settings
) -> None:
    suffix = uuid.uuid4().hex[:6]
    handle = await client.start_workflow(
        FraudMonitorWorkflow.run,
        monitor_request(
            stream_settings,
            f"fraud-cep-can-{suffix}",
            watch_period=timedelta(seconds=4),
            max_restart_backoff=timedelta(seconds=2),
        ),
        id=f"fraud-monitor-can-{suffix}",
        task_queue=stream_settings.fraud_task_queue,
    )
    rest = FlinkRest(stream_settings)

    async def view_when(condition: Callable[[MonitorView], object]) -> MonitorView:
        for _ in range(240):
            view = await client.get_workflow_handle(handle.id).query(FraudMonitorWorkflow.state)
            if condition(view):
                return view
            await asyncio.sleep(0.5)
        raise AssertionError(f"monitor never reached the expected state: {view}")

    first = await view_when(lambda v: v.state == "RUNNING" and v.job_id)
    # after a watch period the workflow continues as new and attaches to the same job
    await asyncio.sleep(10)
    described = await client.get_workflow_handle(handle.id).describe()
    assert described.run_id != handle.first_execution_run_id
    same = await view_when(lambda v: v.state == "RUNNING" and v.job_id)
    assert same.job_id == first.job_id
    named = [j for j in rest.jobs() if j["name"] == f"fraud-cep-can-{suffix}"]
    assert len(named) == 1, named
    # the job dies outside the workflow's control: the monitor restarts it
    rest.cancel(known(first.job_id))
    restarted = await view_when(
        lambda v: v.restarts >= 1 and v.job_id != first.job_id and v.state == "RUNNING"
    )
    assert rest.job(known(restarted.job_id))["state"] == "RUNNING"
    await client.get_workflow_handle(handle.id).cancel()
    for _ in range(60):
        if rest.job(known(restarted.job_id))["state"] == "CANCELED":
            break
        await asyncio.sleep(1)
    assert rest.job(known(restarted.job_id))["state"] == "CANCELED"


async def test_taskmanager_killed_mid_stream_misses_no_fraud(
    monitor: WorkflowHandle, stack: Stack, stream_settings: Settings
) -> None:
    # fast streams run ahead of the wall clock: start after everything already on the topic
    start = datetime.now(UTC) + timedelta(minutes=30)
    runs = [uuid.uuid4().hex[:6] for _ in range(2)]
    first = await fast_run(stream_settings, runs[0], seed=21, start=start)
    rest = FlinkRest(stream_settings)
    job_id = known((await monitor.query(FraudMonitorWorkflow.state)).job_id)
    # kill it once a checkpoint covers the first run: the job then restores at the end of the
    # data, the case where idle-split watermarks used to drop the next run as late
    sent_at_ms = time.time() * 1000
    for _ in range(60):
        completed = rest.checkpoints(job_id)["latest"]["completed"]
        if completed and completed["latest_ack_timestamp"] > sent_at_ms:
            break
        await asyncio.sleep(1)
    else:
        raise AssertionError(f"no checkpoint of job {job_id} completed within a minute")
    taskmanager = next(s for s in stack.services if s.name == "flink-taskmanager")
    process = taskmanager.recorded_process()
    assert process is not None
    restarts_before = _restarts(stack, "flink-taskmanager")
    os.killpg(process.pid, signal.SIGKILL)
    # nobody restarts it here: the stack's supervisor does, and the monitor notices
    for _ in range(180):
        row = next(r for r in stack.status() if r.name == "flink-taskmanager")
        if row.state == "healthy" and row.restarts > restarts_before:
            break
        await asyncio.sleep(1)
    else:
        raise AssertionError(f"the supervisor did not bring the TaskManager back: {row}")
    last_event = max(label.last_event_time for label in first.labels)
    await fast_run(stream_settings, runs[1], seed=22, start=last_event + timedelta(minutes=5))
    results = await full_recall(stream_settings, runs)
    for result in results:
        print("\n".join(result.lines()))
        assert result.overall.recall == 1.0, (
            f"a labelled fraud was missed across the crash; monitor: "
            f"{await monitor.query(FraudMonitorWorkflow.state)}; job: "
            f"{rest.job(job_id)['state']}, checkpoints: {rest.checkpoints(job_id)['counts']}"
        )
        assert result.overall.precision >= 0.95
    # the alerts can all be in while the restored job's last tasks are still deploying
    view = await running(monitor)
    assert view.interruptions >= 1, f"the monitor never noticed the lost TaskManager: {view}"
    # the same job recovered on the new TaskManager from its checkpoint
    assert view.job_id == job_id
    restored = rest.checkpoints(job_id)["latest"]["restored"]
    assert restored is not None
    assert restored["is_savepoint"] is False


def _restarts(stack: Stack, service: str) -> int:
    return next(r.restarts for r in stack.status() if r.name == service)


def alerts_of(settings: Settings, runs: list[str]) -> list[FraudAlert]:
    """The alerts on the alerts topic for the cards of these generator runs."""
    alerts = (
        FraudAlert.model_validate_json(v) for _, v in read_to_end(settings, settings.alerts_topic)
    )
    return [a for a in alerts if any(a.card_id.startswith(f"card-{run}-") for run in runs)]


async def second_run_alerted_once(
    settings: Settings, runs: list[str], seed: int, first: StreamStats, change: str
) -> None:
    """A second run after the first (5 minutes of event time later); then every fraud of both
    is found, each alerted once."""
    await fast_run(
        settings,
        runs[1],
        seed=seed,
        start=max(label.last_event_time for label in first.labels) + timedelta(minutes=5),
    )
    results = await full_recall(settings, runs)
    assert [r.overall.recall for r in results] == [1.0, 1.0], f"an alert was lost in the {change}"
    ids = [alert.alert_id for alert in alerts_of(settings, runs)]
    assert len(ids) == len(set(ids)) == sum(r.overall.alerts for r in results)


async def test_a_rule_change_takes_effect_live_and_each_fraud_is_alerted_once(
    monitor: WorkflowHandle, stream_settings: Settings
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=60)  # after every stream above
    runs = [uuid.uuid4().hex[:6] for _ in range(2)]
    first = await fast_run(stream_settings, runs[0], seed=31, start=start)
    before = await running(monitor)
    [first_result] = await full_recall(stream_settings, runs[:1])
    assert first_result.overall.recall == 1.0

    began = time.monotonic()
    after = await monitor.execute_update(
        FraudMonitorWorkflow.update_thresholds, CepThresholds(travel_max_kmh=850.0)
    )
    print(f"rule change answered in {time.monotonic() - began:.2f} s")
    assert after.thresholds.travel_max_kmh == 850.0
    assert after.rule_version > before.rule_version
    assert after.job_id == before.job_id  # no restart
    assert FlinkRest(stream_settings).job(known(after.job_id))["state"] == "RUNNING"

    await second_run_alerted_once(stream_settings, runs, 32, first, "change")
    # each under the version in force when its last event was evaluated
    assert {a.rule_version for a in alerts_of(stream_settings, runs[:1])} == {before.rule_version}
    assert {a.rule_version for a in alerts_of(stream_settings, runs[1:])} == {after.rule_version}


async def test_a_rule_set_the_job_refuses_fails_the_update_with_its_reason(
    monitor: WorkflowHandle,
) -> None:
    before = await running(monitor)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await monitor.execute_update(
            FraudMonitorWorkflow.update_thresholds, CepThresholds(card_testing_small=300.0)
        )
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ThresholdsRefused"
    # the job's own words (Rules.java), and the version it keeps
    assert "card_testing_small (300.00) must be below card_testing_large (200.00)" in str(cause)
    assert f"version {before.rule_version} stays in force" in str(cause)
    view = await monitor.query(FraudMonitorWorkflow.state)
    assert (view.rule_version, view.thresholds) == (before.rule_version, before.thresholds)


async def test_a_job_upgrade_goes_through_a_savepoint_without_loss(
    monitor: WorkflowHandle, stream_settings: Settings
) -> None:
    start = datetime.now(UTC) + timedelta(minutes=90)  # after every stream above
    runs = [uuid.uuid4().hex[:6] for _ in range(2)]
    first = await fast_run(stream_settings, runs[0], seed=41, start=start)
    before = await running(monitor)
    after = await monitor.execute_update(
        FraudMonitorWorkflow.upgrade_job, JobUpgrade(reason="test: the same code again")
    )
    assert after.job_id != before.job_id
    assert (after.rule_version, after.thresholds) == (before.rule_version, before.thresholds)
    rest = FlinkRest(stream_settings)
    assert rest.job(known(before.job_id))["state"] == "FINISHED"  # stopped with a savepoint
    restored = rest.checkpoints(known(after.job_id))["latest"]["restored"]
    assert restored["is_savepoint"] is True
    # none lost, none sent twice: the savepoint flushed the sink, the new job resumed after it
    await second_run_alerted_once(stream_settings, runs, 42, first, "upgrade")
    # the restored job still runs the rule set it had (broadcast state)
    assert {a.rule_version for a in alerts_of(stream_settings, runs[1:])} == {after.rule_version}


async def test_cancelling_the_monitor_during_its_submission_cancels_the_new_job(
    client: Client, stream_worker, stream_settings: Settings
) -> None:
    """The job a submission in flight starts has an id the workflow has not seen yet: it is
    cancelled by its deterministic name."""
    name = f"fraud-cep-cancel-{uuid.uuid4().hex[:6]}"
    handle = await start_monitor(client, stream_settings, name)
    for _ in range(100):
        pending = (await handle.describe()).raw_description.pending_activities
        if any(
            activity.activity_type.name == "submit_job"
            and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for activity in pending
        ):
            break
        await asyncio.sleep(0.1)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 240)
    rest = FlinkRest(stream_settings)
    jobs = [job for job in rest.jobs() if job["name"] == name]
    assert [job["state"] for job in jobs] == ["CANCELED"], jobs


async def test_cancelling_the_monitor_cancels_the_flink_job(
    monitor: WorkflowHandle, stream_settings: Settings
) -> None:
    job_id = known((await monitor.query(FraudMonitorWorkflow.state)).job_id)
    await monitor.cancel()
    rest = FlinkRest(stream_settings)
    for _ in range(60):
        if rest.job(job_id)["state"] == "CANCELED":
            break
        await asyncio.sleep(1)
    assert rest.job(job_id)["state"] == "CANCELED", job_id
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(monitor.result(), 60)
    assert (await monitor.describe()).status is WorkflowExecutionStatus.CANCELED
