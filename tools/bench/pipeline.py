"""The pipeline benchmark: the feature pipeline end to end through Temporal (ETL child workflow
on Spark, training child workflow on Ray, promotion, smoke check), on a scratch topic, lake,
model store and registry model, with a worker of its own.

    first run      N labelled events, no champion yet: trains and promotes
    second run     no new records: an empty ETL run, a challenger trained on the same features
                   and compared with the champion on the same holdout
    cancellation   a third run cancelled once its Ray job runs: seconds from the cancel request
                   to the Ray job stopped (the workflow ends only after that)

Each step is timed from its child workflow's start and close times in Temporal."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ray.job_submission import JobStatus
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from core.engines.ray_jobs import RayJob
from core.kafka import create_topic
from core.settings import Settings
from core.temporal import connect
from domain.fraud.generator import produce
from domain.pipeline.models import PipelineRequest, PipelineResult, TrainingSettings
from worker.run import run_worker
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow


@dataclass
class PipelineTiming:
    label: str
    records: int
    etl_s: float
    training_s: float
    ray_training_s: float
    total_s: float
    decision: str


@dataclass
class PipelineReport:
    timings: list[PipelineTiming]
    cancel_to_stopped_s: float

    def lines(self) -> list[str]:
        lines = [
            f"{'run':<14}{'records':>9}{'ETL s':>8}{'training s':>12}{'(in Ray) s':>12}"
            f"{'end to end s':>14}  decision"
        ]
        for t in self.timings:
            lines.append(
                f"{t.label:<14}{t.records:>9,}{t.etl_s:>8.1f}{t.training_s:>12.1f}"
                f"{t.ray_training_s:>12.1f}{t.total_s:>14.1f}  {t.decision}"
            )
        lines.append(
            "training s: the training child workflow (Ray job submission, runtime environment, "
            "Ray Data read, search, refit); (in Ray): the job's own measure"
        )
        lines.append(f"cancel request -> Ray job STOPPED: {self.cancel_to_stopped_s:.1f} s")
        return lines


async def run_pipeline_benchmark(settings: Settings, events: int) -> PipelineReport:
    suffix = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        bench = settings.model_copy(
            update={
                "transactions_topic": create_topic(settings, "bench-pipeline", 4),
                "lake_dir": Path(scratch) / "lake",
                "model_store_dir": Path(scratch) / "models",
                "pipeline_task_queue": f"bench-pipeline-{suffix}",
                "order_task_queue": f"bench-pipeline-orders-{suffix}",
                "fraud_task_queue": f"bench-pipeline-fraud-{suffix}",
                "metrics_bind_address": "",  # the stack's worker may serve metrics already
            }
        )
        await asyncio.to_thread(
            produce,
            bench,
            bench.transactions_topic,
            run_id=f"bp{suffix}",
            seed=71,
            rate=200,
            duration_s=events / 200,
            fraud_share=0.01,
            malformed_share=0.001,
            realtime=False,
        )
        request = PipelineRequest(
            topic=bench.transactions_topic,
            model_name=f"bench-fraud-{suffix}",
            training=TrainingSettings(trials=4),
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        worker = asyncio.create_task(run_worker(bench, stop, ready))
        await ready.wait()
        try:
            client = await connect(bench)
            timings = [
                await _timed(client, bench, request, "first run"),
                await _timed(client, bench, request, "no new records"),
            ]
            cancel_s = await _cancel_latency(client, bench, request)
        finally:
            stop.set()
            await worker
    return PipelineReport(timings, cancel_s)


async def _start(client: Client, settings: Settings, request: PipelineRequest) -> WorkflowHandle:
    return await client.start_workflow(
        FeaturePipelineWorkflow.run,
        request,
        id=f"bench-pipeline-{uuid.uuid4().hex[:8]}",
        task_queue=settings.pipeline_task_queue,
    )


async def workflow_seconds(client: Client, workflow_id: str) -> float:
    """A closed workflow's duration, from its start and close times in Temporal."""
    described = await client.get_workflow_handle(workflow_id).describe()
    if described.close_time is None:  # only closed workflows are timed
        raise RuntimeError(f"workflow {workflow_id} is still running")
    return (described.close_time - described.start_time).total_seconds()


async def _timed(
    client: Client, settings: Settings, request: PipelineRequest, label: str
) -> PipelineTiming:
    handle = await _start(client, settings, request)
    result: PipelineResult = await handle.result()
    return PipelineTiming(
        label=label,
        records=result.etl.rows,
        etl_s=await workflow_seconds(client, f"{handle.id}-etl"),
        training_s=await workflow_seconds(client, f"{handle.id}-training"),
        ray_training_s=result.training.training_seconds,
        total_s=await workflow_seconds(client, handle.id),
        decision=result.decision.value,
    )


async def _cancel_latency(client: Client, settings: Settings, request: PipelineRequest) -> float:
    handle = await _start(client, settings, request)
    job = RayJob(settings, f"train-{request.model_name}-{handle.id}", entrypoint="")
    await asyncio.to_thread(_wait_for_status, job, JobStatus.RUNNING)
    await asyncio.sleep(5)  # into the training itself
    requested = time.perf_counter()
    await handle.cancel()
    await asyncio.to_thread(_wait_for_status, job, JobStatus.STOPPED)
    stopped = time.perf_counter() - requested
    with contextlib.suppress(WorkflowFailureError):  # cancelled, as asked
        await handle.result()
    return stopped


def _wait_for_status(job: RayJob, status: JobStatus) -> None:
    while job.status() != status:
        time.sleep(0.2)
