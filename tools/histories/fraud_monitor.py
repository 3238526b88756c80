"""The fraud monitor's stored histories: a run that continues as new, a cancelled run, a run of
the SQL job whose thresholds an Update changes through a savepoint, a run of the fused job whose
rules change live (one change refused), and an upgrade of the fused job through a savepoint
(tests/histories/fraud_monitor/)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)

from client.fraud import monitor_running
from core.settings import PROJECT_ROOT, Settings
from domain.fraud.monitor import CepThresholds, JobUpgrade, MonitorRequest
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow

MONITOR_HISTORY_DIR = PROJECT_ROOT / "tests" / "histories" / "fraud_monitor"


async def record_monitor(client: Client, settings: Settings, tag: str) -> list[Path]:
    """A monitor that submits the CEP job, continues as new after a short watch period,
    attaches to the same job, and is cancelled (which cancels the Flink job)."""
    handle = await start_monitor(client, settings, watch_period=timedelta(seconds=3))
    first_run = handle.first_execution_run_id
    for _ in range(240):
        described = await client.get_workflow_handle(handle.id).describe()
        if described.run_id != first_run:
            break
        await asyncio.sleep(0.5)
    latest = client.get_workflow_handle(handle.id)
    for _ in range(120):
        if (await latest.query(FraudMonitorWorkflow.state)).state == "RUNNING":
            break
        await asyncio.sleep(0.5)
    await latest.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(latest.result(), 120)
    paths = []
    for label, run_id in (("continued_as_new", first_run), ("cancelled", None)):
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        paths.append(store_monitor_history(history, label, tag))
    return paths


async def record_threshold_update(client: Client, settings: Settings, tag: str) -> Path:
    """A monitor of the SQL job whose thresholds are changed by the Update (stop with savepoint,
    restart from it), then cancelled."""
    handle = await start_monitor(client, settings, engine="sql")
    view = await monitor_running(handle)
    await handle.execute_update(
        FraudMonitorWorkflow.update_thresholds,
        view.thresholds.model_copy(update={"velocity_count": view.thresholds.velocity_count + 1}),
    )
    return await cancelled_and_stored(handle, "threshold_update", tag)


async def record_rule_changes(client: Client, settings: Settings, tag: str) -> list[Path]:
    """A monitor of the fused job whose rules change live (then a change it refuses), cancelled;
    and one whose job is upgraded through a savepoint, cancelled."""
    handle = await start_monitor(client, settings)
    await monitor_running(handle)
    await handle.execute_update(
        FraudMonitorWorkflow.update_thresholds, CepThresholds(velocity_count=9)
    )
    with contextlib.suppress(WorkflowUpdateFailedError):
        await handle.execute_update(
            FraudMonitorWorkflow.update_thresholds, CepThresholds(card_testing_small=300.0)
        )
    paths = [await cancelled_and_stored(handle, "rule_change", tag)]
    handle = await start_monitor(client, settings)
    await monitor_running(handle)
    await handle.execute_update(
        FraudMonitorWorkflow.upgrade_job, JobUpgrade(reason="recording a history")
    )
    paths.append(await cancelled_and_stored(handle, "upgrade", tag))
    return paths


async def cancelled_and_stored(handle: WorkflowHandle, label: str, tag: str) -> Path:
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 120)
    return store_monitor_history(await handle.fetch_history(), label, tag)


async def start_monitor(client: Client, settings: Settings, **request: Any) -> WorkflowHandle:
    """A monitor of its own CEP job, with alerts and dead letters on history-only topics."""
    name = f"fraud-cep-history-{uuid.uuid4().hex[:6]}"
    return await client.start_workflow(
        FraudMonitorWorkflow.run,
        MonitorRequest(
            job_name=name,
            source_topic=settings.transactions_topic,
            alerts_topic=f"{settings.alerts_topic}-history",
            dead_letter_topic=f"{settings.dead_letter_topic}-history",
            **request,
        ),
        id=f"monitor-{name}",
        task_queue=settings.fraud_task_queue,
    )


def store_monitor_history(history: WorkflowHistory, label: str, tag: str) -> Path:
    MONITOR_HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    path = MONITOR_HISTORY_DIR / f"{label}.{tag}.json"
    path.write_text(history.to_json())
    return path
