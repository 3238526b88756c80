"""Alert ingestion: fraud alerts from Kafka into PostgreSQL, and into the running order sagas.

A long-running, heartbeating activity (owned by AlertRouterWorkflow) rather than a loop hidden in
the worker: Temporal shows whether it runs, restarts it on another worker when its heartbeats
stop, stops it when the workflow is cancelled, and its heartbeat details carry its progress.

Each alert is written idempotently (alert id is the primary key) before its offset is committed,
so a crash replays alerts and never loses one. The sagas of the card (orders still PENDING in
PostgreSQL; the workflow id is the order id) get the `fraud_alert` signal, again on a replay:
the saga ignores an alert once it is aborting or past capture.
"""

from __future__ import annotations

import asyncio
import json

from confluent_kafka import KafkaError, Message
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.contract import implements
from core.kafka import consumer
from core.settings import Settings
from domain.fraud.events import FraudAlert
from domain.fraud.monitor import RouterProgress
from domain.names import kafka_name_problem
from domain.orders.models import FRAUD_ALERT, FraudAlertSignal
from workflows.boundary import invalid_input
from workflows.fraud import activities as declared


class AlertRouterActivities:
    def __init__(self, settings: Settings, pool: AsyncConnectionPool, client: Client):
        self.settings = settings
        self.pool = pool
        self.client = client

    @implements(declared.route_alerts)
    async def route_alerts(self, group_id: str) -> RouterProgress:
        """Consume alerts until cancelled, heartbeating its progress every second."""
        # checked before librdkafka sees it: an empty group aborts the whole process
        problem = kafka_name_problem(group_id, "consumer group")
        if problem:
            raise invalid_input(problem)
        details = activity.info().heartbeat_details
        progress = RouterProgress.model_validate(details[0]) if details else RouterProgress()
        alerts = await asyncio.to_thread(
            consumer,
            self.settings,
            group_id,
            **{"enable.auto.commit": False, "auto.offset.reset": "earliest"},
        )
        alerts.subscribe([self.settings.alerts_topic])
        try:
            while True:
                messages = await asyncio.to_thread(alerts.consume, 500, 0.1)
                for message in messages:
                    await self._handle(message, progress)
                if messages:
                    await asyncio.to_thread(alerts.commit, asynchronous=False)
                activity.heartbeat(progress.model_dump(mode="json"))
        finally:
            await asyncio.to_thread(alerts.close)

    async def _handle(self, message: Message, progress: RouterProgress) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(f"Kafka error on {self.settings.alerts_topic}: {error}")
            return
        try:
            alert = FraudAlert.model_validate_json(message.value() or b"")
        except (ValidationError, json.JSONDecodeError):
            activity.logger.warning("unreadable alert at offset %s dropped", message.offset())
            progress.rejected_messages += 1
            return
        progress.alerts += 1
        progress.last_alert_at = alert.detection_time
        if await self.store(alert):
            progress.new_alerts += 1
            activity.metric_meter().create_counter(
                "fraud_alerts_routed", "New fraud alerts stored and routed, by CEP pattern"
            ).add(1, {"pattern": alert.pattern.value})
        progress.signals += await self.signal_sagas(alert)

    async def store(self, alert: FraudAlert) -> bool:
        async with self.pool.connection() as conn:
            inserted = await conn.execute(
                "insert into fraud_alerts (alert_id, card_id, customer_id, pattern, evidence,"
                " first_event_time, event_time, cep_detected_at, rule_version) values"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (alert_id) do nothing",
                (
                    alert.alert_id,
                    alert.card_id,
                    alert.customer_id,
                    alert.pattern.value,
                    alert.evidence,
                    alert.first_event_time,
                    alert.event_time,
                    alert.detection_time,
                    alert.rule_version,
                ),
            )
        return inserted.rowcount == 1

    async def signal_sagas(self, alert: FraudAlert) -> int:
        async with self.pool.connection() as conn:
            orders = await (
                await conn.execute(
                    "select order_id from orders where card_id = %s and status = 'PENDING'",
                    (alert.card_id,),
                )
            ).fetchall()
        signalled = 0
        for (order_id,) in orders:
            try:
                await self.client.get_workflow_handle(order_id).signal(
                    FRAUD_ALERT,
                    FraudAlertSignal(
                        alert_id=alert.alert_id,
                        card_id=alert.card_id,
                        pattern=alert.pattern.value,
                        detail=alert.evidence,
                    ),
                )
                signalled += 1
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
                # the saga finished between the query and the signal
        return signalled
