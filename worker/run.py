"""The worker: every workflow and activity of the project, on its task queue.

Shuts down gracefully on SIGTERM/SIGINT: it stops polling, lets running activities finish for
a grace period, then exits; Temporal hands anything unfinished to the next worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Worker

from activities.fraud.alerts import AlertRouterActivities
from activities.fraud.flink_jobs import FlinkJobActivities
from activities.orders.inventory import InventoryActivities
from activities.orders.order import OrderActivities
from activities.orders.payments import PaymentActivities
from activities.orders.shipping import ShippingActivities
from activities.pipeline.engine_jobs import EngineJobActivities
from activities.pipeline.feature_etl import FeatureEtlActivities
from activities.pipeline.model_registry import RegistryActivities
from activities.pipeline.model_training import TrainingActivities
from activities.smoke import SmokeActivities
from core.db.pool import open_pool
from core.observability import metrics_runtime, tracing_interceptors
from core.settings import Settings
from core.temporal import connect
from domain.orders.payment_provider import ProviderBehaviour, SimulatedPaymentProvider
from workflows.fraud.alert_router import AlertRouterWorkflow
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow
from workflows.orders.noop_saga import NoopSagaWorkflow, noop_step
from workflows.orders.order_saga import OrderSagaWorkflow
from workflows.pipeline.feature_etl import FeatureEtlWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow
from workflows.pipeline.model_training import ModelTrainingWorkflow
from workflows.smoke import SmokeWorkflow

log = logging.getLogger("worker")


@dataclass
class TaskQueueRegistration:
    workflows: list[type] = field(default_factory=list)
    activities: list[Any] = field(default_factory=list)


def registrations(
    settings: Settings,
    client: Client,
    pool: AsyncConnectionPool,
    provider_pool: AsyncConnectionPool,
) -> dict[str, TaskQueueRegistration]:
    smoke = SmokeActivities(pool)
    orders = OrderActivities(pool, settings)
    inventory = InventoryActivities(pool)
    # the provider is an external system in real life: it gets connections of its own
    provider = SimulatedPaymentProvider(
        provider_pool,
        ProviderBehaviour(
            latency_s=settings.payment_latency_ms / 1000,
            transient_error_rate=settings.payment_transient_error_rate,
            timeout_rate=settings.payment_timeout_rate,
        ),
    )
    payments = PaymentActivities(pool, provider)
    shipping = ShippingActivities(pool)
    flink = FlinkJobActivities(settings)
    alerts = AlertRouterActivities(settings, pool, client)
    etl = FeatureEtlActivities(settings, pool)
    training = TrainingActivities(settings, pool)
    registry = RegistryActivities(pool)
    engine_jobs = EngineJobActivities(settings, pool)
    return {
        settings.order_task_queue: TaskQueueRegistration(
            workflows=[SmokeWorkflow, OrderSagaWorkflow, NoopSagaWorkflow],
            activities=[
                noop_step,
                smoke.record_smoke_run,
                orders.record_order,
                orders.screen_order,
                orders.complete_order,
                orders.close_order,
                inventory.reserve_stock,
                inventory.release_stock,
                payments.authorize_payment,
                payments.void_payment,
                payments.capture_payment,
                payments.refund_payment,
                shipping.check_shipping_zone,
                shipping.create_shipment,
                shipping.cancel_shipment,
            ],
        ),
        settings.fraud_task_queue: TaskQueueRegistration(
            workflows=[FraudMonitorWorkflow, AlertRouterWorkflow],
            activities=[
                flink.submit_job,
                flink.watch_job,
                flink.stop_with_savepoint,
                flink.cancel_job,
                alerts.route_alerts,
            ],
        ),
        settings.pipeline_task_queue: TaskQueueRegistration(
            workflows=[FeaturePipelineWorkflow, FeatureEtlWorkflow, ModelTrainingWorkflow],
            activities=[
                etl.plan_etl_run,
                etl.run_etl_job,
                etl.feature_runs,
                training.run_training_job,
                registry.register_model_version,
                registry.model_for_alias,
                registry.move_aliases,
                registry.roll_back_alias_change,
                registry.smoke_check_champion,
                engine_jobs.stop_engine_job,
            ],
        ),
    }


class UnknownTaskQueue(RuntimeError):
    pass


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    task_queues: Collection[str] = (),
) -> None:
    """Serve every task queue of the project, or only `task_queues` (e.g. the saga benchmark's
    worker, which must not take tasks of the stack's own fraud and pipeline workflows)."""
    configured = (
        settings.order_task_queue,
        settings.fraud_task_queue,
        settings.pipeline_task_queue,
    )
    unknown = sorted(set(task_queues) - set(configured))
    if unknown:
        raise UnknownTaskQueue(
            f"no such task queue: {', '.join(unknown)} (configured: {', '.join(configured)})"
        )
    # The workflow sandbox re-imports each workflow module for every new workflow run; without
    # bytecode caches (PYTHONDONTWRITEBYTECODE is common in containers and CI) every run pays
    # for compiling the module's source again.
    sys.dont_write_bytecode = False
    stop = stop or _stop_on_signals()
    # The tracing interceptor on the client also covers the workers built from it.
    client = await connect(settings, metrics_runtime(settings), tracing_interceptors(settings))
    async with contextlib.AsyncExitStack() as running:
        pool = await open_pool(settings, max_size=20)
        running.push_async_callback(pool.close)
        provider_pool = await open_pool(settings, max_size=10)
        running.push_async_callback(provider_pool.close)
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=registration.workflows,
                activities=registration.activities,
                max_concurrent_activities=50,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            for queue, registration in registrations(settings, client, pool, provider_pool).items()
            if not task_queues or queue in task_queues
        ]
        for worker in workers:
            await running.enter_async_context(worker)
        log.info(
            "connected to Temporal at %s (namespace %s); task queues: %s",
            settings.temporal_address,
            settings.temporal_namespace,
            ", ".join(w.task_queue for w in workers),
        )
        if settings.metrics_bind_address:
            log.info("Prometheus metrics on http://%s/metrics", settings.metrics_bind_address)
        log.info("worker ready")
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down: finishing running activities")
    log.info("worker stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
