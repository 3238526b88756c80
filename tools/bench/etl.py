"""The ETL benchmark: feature ETL runs over a fresh topic at two input sizes 5x apart, and a run
with no new records for the fixed cost of a run (spark-submit, JVM, Spark session, commit).

Each size is timed end to end as a user runs it (plan, spark-submit, record), on a scratch
lake, so that the lake and the runs of the demo are left alone."""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.kafka import create_topic
from core.settings import Settings
from domain.fraud.generator import produce
from domain.pipeline.etl import plan_run, run_features_job


@dataclass
class EtlTiming:
    label: str
    records: int
    rows: int
    seconds: float


@dataclass
class EtlReport:
    timings: list[EtlTiming]

    def lines(self) -> list[str]:
        overhead = next(t for t in self.timings if t.records == 0).seconds
        lines = [
            f"{'run':<16}{'records':>10}{'rows':>10}{'seconds':>10}{'records/s':>12}"
            f"{'net records/s':>16}"
        ]
        for t in self.timings:
            rate = t.records / t.seconds
            net = t.records / (t.seconds - overhead) if t.seconds > overhead else float("nan")
            lines.append(
                f"{t.label:<16}{t.records:>10,}{t.rows:>10,}{t.seconds:>10.1f}{rate:>12,.0f}"
                f"{(f'{net:,.0f}' if t.records else '-'):>16}"
            )
        lines.append(
            f"fixed cost of a run: {overhead:.1f} s; net = records / (seconds - fixed cost)"
        )
        return lines


def run_etl_benchmark(settings: Settings, events: int) -> EtlReport:
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as lake:
        topic = create_topic(settings, "bench-etl", 4)
        bench = settings.model_copy(update={"transactions_topic": topic, "lake_dir": Path(lake)})
        timings = [_timed_run(bench, "no new records", 0, seed=0)]
        timings.append(_timed_run(bench, "small", events, seed=51))
        timings.append(_timed_run(bench, "5x larger", 5 * events, seed=52))
    return EtlReport(timings)


def _timed_run(settings: Settings, label: str, events: int, seed: int) -> EtlTiming:
    if events:
        produce(
            settings,
            settings.transactions_topic,
            run_id=f"be{uuid.uuid4().hex[:5]}",
            seed=seed,
            rate=1000,
            duration_s=events / 1000,
            # no injected scenarios: their tail of ordinary traffic (kept flowing until the last
            # scenario ends) would add a near-constant number of records to both sizes
            fraud_share=0.0,
            malformed_share=0.001,
            realtime=False,
        )
    started = time.perf_counter()
    plan = plan_run(settings, settings.transactions_topic, f"bench-{uuid.uuid4().hex[:8]}")
    result = run_features_job(settings, plan)
    return EtlTiming(label, plan.records, result.rows, time.perf_counter() - started)
