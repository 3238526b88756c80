"""AlertRouterWorkflow: keeps the alert ingestion running (activities/fraud/alerts.py says why
it is a long-running heartbeating activity). Cancel the workflow to stop it.

Its input is the Kafka consumer group; one Kafka cannot take (empty, or outside Kafka's
alphabet) fails the workflow at once: it must never reach librdkafka, which aborts the whole
worker process on an empty group."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.names import kafka_name_problem
    from workflows.boundary import invalid_input
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
        problem = kafka_name_problem(group_id, "consumer group")
        if problem:
            raise invalid_input(problem)
        await ROUTING.execute(act.route_alerts, group_id)
