"""The model benchmark, end to end over a labelled dataset file: import -> ETL -> training ->
metrics, on scratch topics, lake, model store and registry model, with a worker of its own.

    small ETL     the file's first fifth (by event time) imported to a topic of its own and
                  put through the feature ETL: the ETL's rate at one size
    no new rows   the same topic's next ETL run, which reads nothing: the fixed cost of a run
    pipeline      the whole file imported to another topic, then the feature pipeline through
                  Temporal (ETL child workflow on Spark, training on Ray, promotion): the ETL's
                  rate at five times the size, the training's time, and the test period's
                  metrics of the candidate next to the two baselines

Every stage is timed as a user runs it; the pipeline's stages by their child workflows' start
and close times in Temporal."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.kafka import create_topic
from core.settings import Settings
from core.temporal import connect
from domain.fraud.dataset import ColumnMapping
from domain.fraud.dataset_import import import_dataset, read_table
from domain.pipeline.etl import plan_run, run_features_job
from domain.pipeline.models import (
    BASELINE_MODELS,
    Evaluation,
    PipelineRequest,
    PipelineResult,
    TrainingSettings,
)
from tools.bench.pipeline import workflow_seconds
from worker.run import run_worker
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

SMALL_SHARE = 5  # the small ETL reads one fifth of the file


@dataclass
class Stage:
    label: str
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class ModelReport:
    dataset: str
    stages: list[Stage] = field(default_factory=list)
    fixed_cost_s: float = 0.0
    evaluation: Evaluation | None = None
    decision: str = ""

    def lines(self) -> list[str]:
        lines = [
            f"dataset {self.dataset}",
            f"{'stage':<26}{'records':>11}{'seconds':>10}{'records/s':>12}",
        ]
        for stage in self.stages:
            lines.append(
                f"{stage.label:<26}{stage.records:>11,}{stage.seconds:>10.1f}{stage.rate:>12,.0f}"
            )
        lines.append(f"fixed cost of an ETL run (no new records): {self.fixed_cost_s:.1f} s")
        etl = [s for s in self.stages if s.label.startswith("ETL")]
        if len(etl) == 2 and etl[1].seconds > etl[0].seconds:
            marginal = (etl[1].records - etl[0].records) / (etl[1].seconds - etl[0].seconds)
            lines.append(f"ETL marginal rate between the two sizes: {marginal:,.0f} records/s")
        if self.evaluation is not None:
            lines += evaluation_lines(self.evaluation)
        lines.append(f"pipeline decision: {self.decision}")
        return lines


def evaluation_lines(evaluation: Evaluation) -> list[str]:
    split = evaluation.protocol
    lines = [
        f"test period {split.test_start:%Y-%m-%d} to {split.test_end:%Y-%m-%d}: {split.test_rows:,}"
        f" rows, {split.test_frauds:,} fraud; {split.delay_seconds / 86400:.1f} days left out"
        f" before it; {split.known_card_rows_removed:,} rows of known compromised cards removed;"
        f" card precision@{evaluation.k}, budget {evaluation.alert_budget_rows:,} alerts",
        f"{'model':<22}{'AUC ROC':>9}{'AP':>9}{f'card P@{evaluation.k}':>13}{'P@budget':>10}"
        f"{'R@budget':>10}  recall by scenario",
    ]
    for name, m in evaluation.models.items():
        scenarios = ", ".join(f"{s} {r:.2f}" for s, r in m.recall_by_scenario.items())
        lines.append(
            f"{name:<22}{m.auc_roc:>9.4f}{m.average_precision:>9.4f}{m.card_precision_at_k:>13.4f}"
            f"{m.precision_at_budget:>10.4f}{m.recall_at_budget:>10.4f}  {scenarios}"
        )
    baselines = [b for b in BASELINE_MODELS if b in evaluation.models]
    verdict = "at or above" if evaluation.beats_baselines else "NOT at or above"
    lines.append(
        f"the candidate is {verdict} both baselines ({', '.join(baselines)}) on AUC ROC,"
        " AP and card precision@k"
    )
    return lines


def first_fifth(path: Path, mapping: ColumnMapping, directory: Path) -> Path:
    """The file's rows before the time that a fifth of them precede, as Parquet."""
    table = read_table(path)
    times = table.column(mapping.event_time)
    order = pc.sort_indices(times)
    subset = table.take(order[: max(1, table.num_rows // SMALL_SHARE)])
    out = directory / f"{path.stem}-first-fifth.parquet"
    pq.write_table(subset, out)
    return out


async def run_model_benchmark(
    settings: Settings, path: Path, mapping: ColumnMapping, trials: int
) -> ModelReport:
    suffix = uuid.uuid4().hex[:6]
    report = ModelReport(dataset=path.name)
    with tempfile.TemporaryDirectory(prefix="bench-model-") as scratch_dir:
        scratch = Path(scratch_dir)
        bench = settings.model_copy(
            update={
                "lake_dir": scratch / "lake",
                "model_store_dir": scratch / "models",
                "pipeline_task_queue": f"bench-model-{suffix}",
                "order_task_queue": f"bench-model-orders-{suffix}",
                "fraud_task_queue": f"bench-model-fraud-{suffix}",
                "metrics_bind_address": "",  # the stack's worker may serve metrics already
            }
        )
        small_file = await asyncio.to_thread(first_fifth, path, mapping, scratch)
        small_topic = await asyncio.to_thread(create_topic, bench, "bench-model-small", 4)
        await _import(report, bench, small_file, mapping, small_topic, "import (a fifth)")
        small = bench.model_copy(update={"transactions_topic": small_topic})
        report.stages.append(await asyncio.to_thread(_etl, small, "ETL (a fifth)"))
        report.fixed_cost_s = (await asyncio.to_thread(_etl, small, "no new records")).seconds

        topic = await asyncio.to_thread(create_topic, bench, "bench-model", 4)
        records = await _import(report, bench, path, mapping, topic, "import (whole file)")
        request = PipelineRequest(
            topic=topic,
            model_name=f"bench-model-{suffix}",
            training=TrainingSettings(trials=trials),
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        worker = asyncio.create_task(run_worker(bench, stop, ready))
        await ready.wait()
        try:
            client = await connect(bench)
            handle = await client.start_workflow(
                FeaturePipelineWorkflow.run,
                request,
                id=f"bench-model-{suffix}",
                task_queue=bench.pipeline_task_queue,
            )
            result: PipelineResult = await handle.result()
            report.stages.append(
                Stage(
                    "ETL (whole file)", records, await workflow_seconds(client, f"{handle.id}-etl")
                )
            )
            report.stages.append(
                Stage(
                    "training",
                    result.training.metrics.rows,
                    await workflow_seconds(client, f"{handle.id}-training"),
                )
            )
            report.stages.append(
                Stage("pipeline end to end", records, await workflow_seconds(client, handle.id))
            )
        finally:
            stop.set()
            await worker
        report.evaluation = result.training.evaluation
        report.decision = f"{result.decision.value}: {result.reason}"
    return report


async def _import(
    report: ModelReport,
    settings: Settings,
    path: Path,
    mapping: ColumnMapping,
    topic: str,
    label: str,
) -> int:
    began = time.perf_counter()
    imported = await asyncio.to_thread(import_dataset, settings, path, mapping, topic)
    records = imported.rows_imported + imported.rows_already
    report.stages.append(Stage(label, records, time.perf_counter() - began))
    return records


def _etl(settings: Settings, label: str) -> Stage:
    began = time.perf_counter()
    plan = plan_run(settings, settings.transactions_topic, f"bench-{uuid.uuid4().hex[:8]}")
    run_features_job(settings, plan)
    return Stage(label, plan.records, time.perf_counter() - began)
