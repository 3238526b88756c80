"""What the worker serves: each task queue's workflows, and the implementation of every activity
those workflows declare (workflows/*/activities.py), built over the worker's connections."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Interceptor

from activities.fraud.alerts import AlertRouterActivities
from activities.fraud.flink_jobs import FlinkJobActivities
from activities.fraud.rules import RuleActivities
from activities.orders.inventory import InventoryActivities
from activities.orders.order import OrderActivities
from activities.orders.payments import PaymentActivities
from activities.orders.screening import ScreeningActivities
from activities.orders.shipping import ShippingActivities
from activities.pipeline.engine_jobs import EngineJobActivities
from activities.pipeline.feature_etl import FeatureEtlActivities
from activities.pipeline.model_registry import RegistryActivities
from activities.pipeline.model_training import TrainingActivities
from activities.smoke import SmokeActivities
from core.settings import Settings
from domain.orders.payment_provider import ProviderBehaviour, SimulatedPaymentProvider
from workflows import smoke
from workflows.boundary import InputChecks
from workflows.fraud import activities as fraud_activities
from workflows.fraud.alert_router import AlertRouterWorkflow
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow
from workflows.orders import activities as order_activities
from workflows.orders.noop_saga import NoopSagaWorkflow, noop_step
from workflows.orders.order_repair import OrderRepairWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow
from workflows.pipeline import activities as pipeline_activities
from workflows.pipeline.feature_etl import FeatureEtlWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow
from workflows.pipeline.model_training import ModelTrainingWorkflow
from workflows.smoke import SmokeWorkflow

# every worker and every replayer runs the workflows with these (the replayer must, or replaying
# a history of refused input would differ)
WORKFLOW_INTERCEPTORS: list[Interceptor] = [InputChecks()]


@dataclass
class TaskQueueRegistration:
    workflows: list[type] = field(default_factory=list)
    activities: list[Callable[..., Any]] = field(default_factory=list)


class MissingImplementation(LookupError):
    pass


def declared_activities(declarations: ModuleType) -> list[str]:
    """The names of the activities a module declares (its functions)."""
    return [
        name
        for name, function in inspect.getmembers(declarations, inspect.isfunction)
        if function.__module__ == declarations.__name__
    ]


def implementations(declarations: ModuleType, *providers: object) -> list[Callable[..., Any]]:
    """Each activity the module declares, as the one provider's method of that name."""
    found = []
    for name in declared_activities(declarations):
        methods = [getattr(provider, name) for provider in providers if hasattr(provider, name)]
        if len(methods) != 1:
            raise MissingImplementation(
                f"activity {name} ({declarations.__name__}) has {len(methods)} implementations"
                f" among {', '.join(type(p).__name__ for p in providers)}; it needs exactly one"
            )
        found += methods
    return found


def registrations(
    settings: Settings,
    client: Client,
    pool: AsyncConnectionPool,
    provider_pool: AsyncConnectionPool,
) -> dict[str, TaskQueueRegistration]:
    # the provider is an external system in real life: it gets connections of its own
    provider = SimulatedPaymentProvider(
        provider_pool,
        ProviderBehaviour(
            latency_s=settings.payment_latency_ms / 1000,
            transient_error_rate=settings.payment_transient_error_rate,
            timeout_rate=settings.payment_timeout_rate,
        ),
    )
    return {
        settings.order_task_queue: TaskQueueRegistration(
            workflows=[SmokeWorkflow, OrderSagaWorkflow, OrderRepairWorkflow, NoopSagaWorkflow],
            activities=[
                noop_step,
                *implementations(smoke, SmokeActivities(pool)),
                *implementations(
                    order_activities,
                    OrderActivities(pool),
                    ScreeningActivities(pool, settings),
                    InventoryActivities(pool),
                    PaymentActivities(pool, provider),
                    ShippingActivities(pool),
                ),
            ],
        ),
        settings.fraud_task_queue: TaskQueueRegistration(
            workflows=[FraudMonitorWorkflow, AlertRouterWorkflow],
            activities=implementations(
                fraud_activities,
                FlinkJobActivities(settings),
                RuleActivities(settings),
                AlertRouterActivities(settings, pool, client),
            ),
        ),
        settings.pipeline_task_queue: TaskQueueRegistration(
            workflows=[FeaturePipelineWorkflow, FeatureEtlWorkflow, ModelTrainingWorkflow],
            activities=implementations(
                pipeline_activities,
                FeatureEtlActivities(settings, pool),
                TrainingActivities(settings, pool),
                RegistryActivities(pool),
                EngineJobActivities(settings, pool),
            ),
        ),
    }
