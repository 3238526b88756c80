"""The demo end to end on the real local stack, in a shortened configuration, with a worker of
its own that serves Prometheus metrics: the story runs, the invariant check passes, and the
worker's metrics show the sagas, alerts and engine jobs it went through."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError

from core.kafka import create_topic
from core.settings import Settings
from domain.orders.models import OrderStatus
from domain.pipeline.models import PipelineDecision
from tests.support.worker import ThreadedWorker
from tools.demo.report import DETECTION_PROMISE, DemoConfig, DemoReport
from tools.demo.story import run_demo

pytestmark = pytest.mark.usefixtures("stack")

SHORT = DemoConfig(
    orders=6,
    attacked_cards=2,
    stream_rate=150,
    stream_seconds=45,
    fraud_share=0.03,
    trials=2,
    job_name=f"demo-cep-{uuid.uuid4().hex[:6]}",
)


# what the demo printed, line by line
SAID: list[str] = []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def demo_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    suffix = uuid.uuid4().hex[:6]
    return base_settings.model_copy(
        update={
            "transactions_topic": create_topic(base_settings, "demo-tx", partitions=2),
            "alerts_topic": create_topic(base_settings, "demo-alerts"),
            "dead_letter_topic": create_topic(base_settings, "demo-dlq"),
            "lake_dir": tmp_path_factory.mktemp("demo-lake"),
            "model_store_dir": tmp_path_factory.mktemp("demo-models"),
            "fraud_model_name": f"demo-fraud-{suffix}",
            "order_task_queue": f"test-demo-orders-{suffix}",
            "fraud_task_queue": f"test-demo-fraud-{suffix}",
            "pipeline_task_queue": f"test-demo-pipeline-{suffix}",
            "metrics_bind_address": f"127.0.0.1:{free_port()}",
        }
    )


@pytest.fixture(scope="module")
def demo_worker(demo_settings: Settings) -> Iterator[ThreadedWorker]:
    with ThreadedWorker(demo_settings) as running:
        yield running


@pytest.fixture(scope="module")
async def report(
    client: Client, demo_settings: Settings, demo_worker: ThreadedWorker
) -> DemoReport:
    try:
        return await run_demo(demo_settings, SHORT, SAID.append)
    finally:
        print("\n".join(SAID))
        # stopped while the worker still runs, so that the Flink job is cancelled too
        for workflow_id in (
            f"fraud-monitor-{SHORT.job_name}",
            f"alert-router-{demo_settings.alerts_topic}",
        ):
            handle = client.get_workflow_handle(workflow_id)
            await handle.cancel()
            with contextlib.suppress(WorkflowFailureError, TimeoutError):
                await asyncio.wait_for(handle.result(), 60)


async def test_the_story_runs_and_the_invariants_hold(report: DemoReport) -> None:
    assert report.violations == []
    outcomes = report.outcomes
    # ordinary orders, the one approved in review, the everyday order scored by the champion
    assert outcomes["COMPLETED"] >= SHORT.orders + 2
    assert outcomes["CANCELLED"] == 1
    assert outcomes["FAILED"] == 1  # the declined card, its stock released
    assert report.compensations["release_stock"] >= 1
    # every attacked order aborted by the alert, and the order placed on the card afterwards
    attacked = [r for r in report.results if "-attacked" in r.order_id or "-blocked" in r.order_id]
    assert len(attacked) == SHORT.attacked_cards + 1
    assert all(r.status is OrderStatus.REJECTED for r in attacked)
    blocked = next(r for r in attacked if r.order_id.endswith("-blocked"))
    assert "open fraud alert on the card" in (blocked.reason or "")


async def test_the_story_shows_its_progress(report: DemoReport) -> None:
    """The long waits say what they wait for: the stream's scenarios, the detector catching
    up."""
    assert any("scenarios:" in line and "still running" in line for line in SAID), SAID
    assert any("scenarios detected" in line and "Flink job" in line for line in SAID), SAID
    # and how long each phase took, for the summary
    assert [name for name, _ in report.phases] == [
        "seed and topics",
        "fraud monitor",
        "stream start",
        "orders",
        "stream end, detector scored",
        "feature pipeline",
        "champion scores",
        "invariants",
    ]
    assert all(seconds >= 0 for _, seconds in report.phases)
    assert sum(seconds for _, seconds in report.phases[2:5]) >= SHORT.stream_seconds


async def test_the_detector_is_scored_against_the_ground_truth(report: DemoReport) -> None:
    evaluation = report.evaluation
    assert evaluation is not None
    assert report.stream is not None
    assert report.stream.labels
    # the live part's injected scenarios plus the demo's own card testing on the attacked cards
    live_start = report.stream.live_start
    assert live_start is not None
    live = [s for s in report.stream.labels if s.first_event_time >= live_start]
    assert evaluation.overall.labels == len(live) + SHORT.attacked_cards
    # the breached merchants' charges: labelled, and said to be no CEP pattern
    assert report.stream.merchant_breaches >= 1
    assert report.stream.breached_charges > 0
    assert "merchant_compromise" in evaluation.not_cep_patterns
    assert evaluation.overall.recall >= DETECTION_PROMISE
    assert evaluation.overall.precision >= DETECTION_PROMISE
    assert report.shortfalls() == []


async def test_the_pipeline_promotes_and_the_champion_scores_new_orders(
    report: DemoReport,
) -> None:
    assert report.pipeline is not None
    assert report.pipeline.decision is PipelineDecision.PROMOTED
    # the model is judged on the test period against both baselines, and the breached
    # merchants' charges in it are a scenario of their own
    evaluation = report.pipeline.training.evaluation
    assert evaluation is not None
    assert set(evaluation.models) >= {"candidate", "logistic_regression", "random_forest"}
    assert "merchant_compromise" in evaluation.models["candidate"].recall_by_scenario
    champion = report.pipeline.champion
    assert any(
        version == champion and "champion" in aliases for version, *_, aliases in report.models
    )
    assert report.scored
    for order in report.scored:
        assert order.model_version == champion
        assert order.model_score is not None
        assert 0 <= order.model_score <= 1


def test_the_worker_exports_metrics_for_prometheus(
    report: DemoReport, demo_settings: Settings
) -> None:
    text = httpx.get(f"http://{demo_settings.metrics_bind_address}/metrics", timeout=10).text
    samples = {line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")}

    def has(metric: str, *labels: str) -> bool:
        return any(s.startswith(metric) and all(label in s for label in labels) for s in samples)

    assert has("order_saga_outcomes", 'outcome="COMPLETED"')
    assert has("order_saga_outcomes", 'outcome="REJECTED"')
    assert has("fraud_alerts_routed", 'pattern="card_testing"')
    for engine in ("flink", "spark", "ray"):
        assert has("engine_job_states", f'engine="{engine}"'), engine
    assert has("temporal_activity_execution_latency", 'activity_type="reserve_stock"')
    assert has("temporal_workflow_completed", 'workflow_type="OrderSagaWorkflow"')
