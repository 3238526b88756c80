"""Starting the streaming side: the Flink CEP job's monitor and the alert router."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from core.settings import Settings
from core.temporal import connect
from domain.fraud.monitor import MonitorRequest, MonitorView
from workflows.fraud.alert_router import AlertRouterWorkflow
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow


def monitor_request(settings: Settings, job_name: str, **options: Any) -> MonitorRequest:
    """A CEP job over the configured topics; `options` sets the other MonitorRequest fields."""
    return MonitorRequest(
        job_name=job_name,
        source_topic=settings.transactions_topic,
        alerts_topic=settings.alerts_topic,
        dead_letter_topic=settings.dead_letter_topic,
        **options,
    )


async def start_fraud_workflows(settings: Settings, job_name: str) -> str:
    """Start FraudMonitorWorkflow (the CEP job) and AlertRouterWorkflow; running ones are kept."""
    client = await connect(settings)
    monitor = await client.start_workflow(
        FraudMonitorWorkflow.run,
        monitor_request(settings, job_name),
        id=f"fraud-monitor-{job_name}",
        task_queue=settings.fraud_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    # one router per alerts topic; its id is also its Kafka consumer group
    router_id = f"alert-router-{settings.alerts_topic}"
    router = await client.start_workflow(
        AlertRouterWorkflow.run,
        router_id,
        id=router_id,
        task_queue=settings.fraud_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return (
        f"running: {monitor.id}, {router.id} (temporal workflow query -w {monitor.id} --name state)"
    )


async def monitor_running(monitor: WorkflowHandle[Any, Any], within_s: float = 120) -> MonitorView:
    """The monitor's view once it says its job runs; RuntimeError after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        view: MonitorView = await monitor.query(FraudMonitorWorkflow.state)
        if view.state == "RUNNING":
            return view
        if time.monotonic() > deadline:
            raise RuntimeError(f"the monitor's Flink job does not run after {within_s:g} s: {view}")
        await asyncio.sleep(0.5)
