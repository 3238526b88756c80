"""Recording workflow histories from real runs, for the replay tests.

`hybrid histories record` drives one order through each branch of the saga on the local stack
(PostgreSQL, the Temporal dev server, a worker of its own) and stores each history as
tests/histories/order_saga/<branch>.<tag>.json. The replay tests replay every stored file with
the worker's data converter, so a change to the workflow that breaks determinism fails them.
Keep the files of earlier workflow versions: they prove that a patched workflow still replays
the histories of runs started before the patch.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)

from core.db.connections import connect
from core.settings import PROJECT_ROOT, Settings
from core.temporal import connect
from domain.fraud.generator import produce
from domain.fraud.monitor import MonitorRequest
from domain.orders.models import (
    CancelRequest,
    ClientContext,
    FraudAlertSignal,
    OrderItem,
    OrderRequest,
    OrderStatus,
    PaymentMethod,
    ReviewDecision,
    ReviewVerdict,
    ShippingAddress,
)
from domain.pipeline.models import PipelineRequest, TrainingSettings
from tools.bench.stream import create_topic
from tools.seed import seed
from worker.run import run_worker
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

HISTORY_DIR = PROJECT_ROOT / "tests" / "histories" / "order_saga"
MONITOR_HISTORY_DIR = PROJECT_ROOT / "tests" / "histories" / "fraud_monitor"
PIPELINE_HISTORY_DIR = PROJECT_ROOT / "tests" / "histories" / "feature_pipeline"
SCARCE_SKU = "SKU-HISTORY-SCARCE"


def history_order(
    *,
    card_id: str = "card_history_ok",
    customer_id: str = "cust-alice",
    sku: str = "SKU-CABLE-USBC",
    quantity: int = 1,
    unit_price: str = "12.50",
    country: str = "FR",
    review_timeout_s: float | None = None,
) -> OrderRequest:
    order = OrderRequest(
        order_id=f"hist-{uuid.uuid4().hex[:10]}",
        customer_id=customer_id,
        payment=PaymentMethod(card_id=card_id),
        items=[OrderItem(sku=sku, quantity=quantity, unit_price=Decimal(unit_price))],
        currency="EUR",
        shipping_address=ShippingAddress(
            name="Alice Martin",
            line1="1 rue de Rivoli",
            city="Paris",
            postal_code="75001",
            country=country,
        ),
        client=ClientContext(country="FR", ip="192.0.2.10", device_id="dev-alice-1"),
    )
    if review_timeout_s is not None:
        order = order.model_copy(update={"review_timeout": timedelta(seconds=review_timeout_s)})
    return order


async def wait_for_status(handle: WorkflowHandle, *statuses: OrderStatus) -> None:
    for _ in range(600):
        if (await handle.query(OrderSagaWorkflow.status_view)).status in statuses:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{handle.id} never reached {statuses}")


Driver = Callable[[WorkflowHandle], Awaitable[None]]


async def nothing(_: WorkflowHandle) -> None:
    return None


async def approve_review(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="rita", note="verified by phone"),
    )


async def reject_review(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AWAITING_REVIEW)
    await handle.execute_update(
        OrderSagaWorkflow.decide_review,
        ReviewDecision(decision=ReviewVerdict.REJECT, reviewer="rita", note="card reported"),
    )


async def cancel_during_payment(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AUTHORIZING_PAYMENT, OrderStatus.CREATING_SHIPMENT)
    await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="changed mind"))


async def cancel_too_late(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.CAPTURING_PAYMENT)
    try:
        await handle.execute_update(OrderSagaWorkflow.cancel, CancelRequest(reason="too late"))
    except WorkflowUpdateFailedError:
        return
    raise AssertionError("a cancel after capture must be refused")


async def fraud_alert_mid_saga(handle: WorkflowHandle) -> None:
    await wait_for_status(handle, OrderStatus.AUTHORIZING_PAYMENT, OrderStatus.CREATING_SHIPMENT)
    await handle.signal(
        OrderSagaWorkflow.fraud_alert,
        FraudAlertSignal(alert_id="alert-history", card_id="card_history_ok", pattern="velocity"),
    )


@dataclass(frozen=True)
class Branch:
    name: str
    order: Callable[[], OrderRequest]
    drive: Driver
    expected: OrderStatus


BRANCHES = [
    Branch("approved", lambda: history_order(), nothing, OrderStatus.COMPLETED),
    Branch(
        "rejected_by_screen",
        lambda: history_order(card_id="card_history_flagged"),
        nothing,
        OrderStatus.REJECTED,
    ),
    Branch(
        "review_approved",
        lambda: history_order(unit_price="5200.00"),
        approve_review,
        OrderStatus.COMPLETED,
    ),
    Branch(
        "review_rejected",
        lambda: history_order(unit_price="5200.00"),
        reject_review,
        OrderStatus.REJECTED,
    ),
    Branch(
        "review_timed_out",
        lambda: history_order(unit_price="5200.00", review_timeout_s=2),
        nothing,
        OrderStatus.REJECTED,
    ),
    Branch(
        "cancelled_before_capture",
        lambda: history_order(),
        cancel_during_payment,
        OrderStatus.CANCELLED,
    ),
    Branch(
        "cancel_refused_after_capture",
        lambda: history_order(),
        cancel_too_late,
        OrderStatus.COMPLETED,
    ),
    Branch(
        "fraud_alert_signal", lambda: history_order(), fraud_alert_mid_saga, OrderStatus.REJECTED
    ),
    Branch(
        "declined_at_authorize",
        lambda: history_order(card_id="card_declined_history"),
        nothing,
        OrderStatus.FAILED,
    ),
    Branch("out_of_stock", lambda: history_order(sku=SCARCE_SKU), nothing, OrderStatus.FAILED),
    Branch(
        "unknown_sku", lambda: history_order(sku="SKU-NO-SUCH-THING"), nothing, OrderStatus.FAILED
    ),
    Branch(
        "shipping_unavailable", lambda: history_order(country="AQ"), nothing, OrderStatus.FAILED
    ),
    Branch(
        "declined_at_capture",
        lambda: history_order(card_id="card_capture_declined_history"),
        nothing,
        OrderStatus.FAILED,
    ),
]


def prepare_fixtures(dsn: str) -> None:
    seed(dsn)
    with connect(dsn) as conn:
        conn.execute(
            "insert into inventory (sku, description, unit_price, on_hand) values (%s,"
            " 'always out of stock', 10, 0) on conflict (sku) do nothing",
            (SCARCE_SKU,),
        )
        conn.execute(
            "insert into fraud_alerts (alert_id, card_id, pattern, event_time)"
            " values ('alert-history-flagged', 'card_history_flagged', 'card_testing', now())"
            " on conflict (alert_id) do nothing"
        )


async def record(settings: Settings, tag: str, only: list[str] | None = None) -> list[Path]:
    """Run each branch for real and store its history; returns the files written."""
    prepare_fixtures(settings.postgres_dsn)
    # a slow provider leaves time to cancel or alert while payment is in flight
    recording = settings.model_copy(
        update={
            "order_task_queue": f"record-histories-{uuid.uuid4().hex[:6]}",
            "payment_latency_ms": 400,
            "metrics_bind_address": "",  # the stack's worker may serve metrics already
            # the branches are the rules' decisions, whatever champion the demo promoted
            "fraud_model_name": "record-histories-no-model",
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(recording, stop, ready))
    await ready.wait()
    client = await connect(recording)
    HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for branch in BRANCHES:
            if only and branch.name not in only:
                continue
            written.append(await _record_branch(client, recording, branch, tag))
        if not only or "fraud_monitor" in only:
            written += await _record_monitor(client, recording, tag)
            written.append(await _record_threshold_update(client, recording, tag))
        if not only or "feature_pipeline" in only:
            written += await _record_pipelines(client, recording, tag)
    finally:
        stop.set()
        await worker
    return written


async def _record_monitor(client: Client, settings: Settings, tag: str) -> list[Path]:
    """A monitor that submits the CEP job, continues as new after a short watch period,
    attaches to the same job, and is cancelled (which cancels the Flink job)."""
    handle = await _start_monitor(client, settings, watch_period=timedelta(seconds=3))
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
        paths.append(_store_monitor_history(history, label, tag))
    return paths


async def _record_threshold_update(client: Client, settings: Settings, tag: str) -> Path:
    """A monitor whose thresholds are changed by the Update (stop with savepoint, restart from
    it), then cancelled."""
    handle = await _start_monitor(client, settings)
    for _ in range(240):
        view = await handle.query(FraudMonitorWorkflow.state)
        if view.state == "RUNNING":
            break
        await asyncio.sleep(0.5)
    await handle.execute_update(
        FraudMonitorWorkflow.update_thresholds,
        view.thresholds.model_copy(update={"velocity_count": view.thresholds.velocity_count + 1}),
    )
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 120)
    return _store_monitor_history(await handle.fetch_history(), "threshold_update", tag)


async def _start_monitor(client: Client, settings: Settings, **request: Any) -> WorkflowHandle:
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


def _store_monitor_history(history: WorkflowHistory, label: str, tag: str) -> Path:
    MONITOR_HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    path = MONITOR_HISTORY_DIR / f"{label}.{tag}.json"
    path.write_text(history.to_json())
    return path


async def _record_pipelines(client: Client, settings: Settings, tag: str) -> list[Path]:
    """Four pipelines over a small labelled stream of their own (topic, lake, model store and
    registry model): promoted (no champion yet), champion kept, promotion rolled back after the
    smoke check, and cancelled during training. Each stores the histories of the pipeline and
    of its child workflows."""
    suffix = uuid.uuid4().hex[:6]
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-histories-"))
    recording = settings.model_copy(
        update={
            "transactions_topic": create_topic(settings, "pipeline-history-tx", 2),
            "lake_dir": scratch / "lake",
            "model_store_dir": scratch / "models",
            "pipeline_task_queue": f"record-histories-pipeline-{suffix}",
            "metrics_bind_address": "",
        }
    )
    produce(
        recording.kafka_bootstrap_servers,
        recording.transactions_topic,
        recording.postgres_dsn,
        run_id=f"ph{suffix}",
        seed=61,
        rate=40,
        duration_s=300,
        fraud_share=0.03,
        malformed_share=0.005,
        realtime=False,
        start=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    )
    # a worker of its own: its activities read this lake and model store
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(recording, stop, ready))
    await ready.wait()
    request = PipelineRequest(
        topic=recording.transactions_topic,
        model_name=f"history-fraud-{suffix}",
        training=TrainingSettings(trials=2),
    )
    runs = [
        ("promoted", request),
        ("kept_champion", request.model_copy(update={"promotion_margin": 0.5})),
        (
            "rolled_back",
            request.model_copy(update={"promotion_margin": -1, "smoke_min_pr_auc": 1.01}),
        ),
        ("cancelled", request.model_copy(update={"training": TrainingSettings(trials=8)})),
    ]
    paths = []
    try:
        for label, pipeline_request in runs:
            handle = await client.start_workflow(
                FeaturePipelineWorkflow.run,
                pipeline_request,
                id=f"history-pipeline-{label}-{suffix}",
                task_queue=recording.pipeline_task_queue,
            )
            if label == "cancelled":
                for _ in range(600):
                    if await handle.query(FeaturePipelineWorkflow.stage) == "TRAINING":
                        break
                    await asyncio.sleep(0.5)
                await asyncio.sleep(20)  # the Ray job is running
                await handle.cancel()
            with contextlib.suppress(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), 600)
            for workflow_id, name in (
                (handle.id, label),
                (f"{handle.id}-etl", f"{label}.etl"),
                (f"{handle.id}-training", f"{label}.training"),
            ):
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                PIPELINE_HISTORY_DIR.mkdir(parents=True, exist_ok=True)
                path = PIPELINE_HISTORY_DIR / f"{name}.{tag}.json"
                path.write_text(history.to_json())
                paths.append(path)
    finally:
        stop.set()
        await worker
    return paths


async def _record_branch(client: Client, settings: Settings, branch: Branch, tag: str) -> Path:
    order = branch.order()
    handle = await client.start_workflow(
        OrderSagaWorkflow.run, order, id=order.order_id, task_queue=settings.order_task_queue
    )
    await branch.drive(handle)
    result = await asyncio.wait_for(handle.result(), 60)
    if result.status is not branch.expected:
        raise AssertionError(f"{branch.name}: expected {branch.expected}, got {result.status}")
    path = HISTORY_DIR / f"{branch.name}.{tag}.json"
    path.write_text((await handle.fetch_history()).to_json())
    return path
