"""The feature pipeline's stored histories, with its children's: promoted, champion kept, rolled
back and cancelled (tests/histories/feature_pipeline/)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError

from core.kafka import create_topic
from core.settings import PROJECT_ROOT, Settings
from domain.fraud.generator import produce
from domain.pipeline.models import PipelineRequest, TrainingSettings
from worker.run import run_worker
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

PIPELINE_HISTORY_DIR = PROJECT_ROOT / "tests" / "histories" / "feature_pipeline"


async def record_pipelines(client: Client, settings: Settings, tag: str) -> list[Path]:
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
        recording,
        recording.transactions_topic,
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
