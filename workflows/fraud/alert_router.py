"""AlertRouterWorkflow: keeps the alert ingestion running (activities/fraud/alerts.py says why
it is a long-running heartbeating activity). Cancel the workflow to stop it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from workflows.fraud import activities as act
    from workflows.options import ActivityOptions

ROUTING = ActivityOptions(
    start_to_close_timeout=timedelta(days=3650),
    heartbeat_timeout=timedelta(seconds=20),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)


@workflow.defn(failure_exception_types=[ValidationError])
class AlertRouterWorkflow:
    @workflow.run
    async def run(self, group_id: str) -> None:
        await ROUTING.execute(act.route_alerts, group_id)
