"""The streaming benchmark: Kafka -> fraud detection -> alerts, the SQL specification
(MATCH_RECOGNIZE) and the fused detector side by side against a pass-through job on the same
topic, then the fused detector's latency at half its measured rate, with precision and recall.

1. A seeded stream is preloaded into a fresh topic (the generator runs ahead of the clock).
2. The pass-through job (a byte-for-byte copy to another topic), the CEP job and the fused
   detector each read the whole topic as a bounded job (`--bounded`: they stop at the end
   offsets seen at start), one after the other. Each rate is the topic's records over the
   job's own run time on the cluster, from its first task starting to the job finishing, as
   Flink's REST API reports it. The detection jobs run with their production settings
   (checkpoints every 10 s included), each writing its alerts to a topic of its own: the two
   sets must be equal. All jobs first run once, unmeasured, over a topic a tenth of the size.
   That does not warm everything: each submission loads its job's classes anew (the job jar,
   the SQL job's generated code), and the JIT compiles them again: in a 2.7 s run of the fused
   detector the C2 compiler threads used 1.3 s of CPU, against 0.1-0.5 s in a copy job's run
   (per-thread CPU from /proc, 2026-12-04). So each round also runs the pass-through job and
   the fused detector over a topic a quarter of the size, and the marginal rate, (records -
   small records) / (run time - small run time), is each job's rate without its fixed costs:
   the steady state a long-running job has.
3. The heap the fused detector's state takes per 100,000 active cards (see state_heap.py).
4. A real-time stream at half the fused rate (capped by what the generator can send) goes
   through the fused detector, run by FraudMonitorWorkflow as in production, and the alert
   router; latency is event time of the match's last event -> alert row in PostgreSQL.
5. The monitor's rules change three times (`update_thresholds`, live): each from the Update's
   start to its answer, once every subtask of the running job applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle

from activities.fraud.flink_jobs import submit_cep_job
from client.fraud import monitor_running
from core.engines.flink import TERMINAL_STATES, FlinkRest, submit_python_job
from core.kafka import create_topic, end_offsets, read_to_end
from core.settings import PROJECT_ROOT, Settings
from core.temporal import connect
from domain.fraud.evaluation import Evaluation, evaluate
from domain.fraud.events import FraudAlert
from domain.fraud.generator import produce
from domain.fraud.monitor import (
    CepJobSpec,
    CepThresholds,
    DetectorEngine,
    MonitorRequest,
    StartupMode,
)
from tools.bench.state_heap import StateHeap, measure_state_heap
from workflows.fraud.alert_router import AlertRouterWorkflow
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow

log = logging.getLogger("bench.stream")

GENERATOR_REALTIME_CAP = 1500.0  # events/s the Python generator sustains on the wall clock
ROUNDS = 3  # of the pass-through job and the fused detector, in turn


@dataclass
class StreamReport:
    events: int
    passthrough_rates: list[float]
    cep_rate: float
    fused_rates: list[float]
    small_events: int
    passthrough_marginal: list[float]
    fused_marginal: list[float]
    alerts_differ: int
    latency_rate: float
    latency: Evaluation
    rule_changes_s: list[float]
    state_heap: StateHeap

    def lines(self) -> list[str]:
        passthrough, fused = max(self.passthrough_rates), max(self.fused_rates)
        return [
            f"preloaded {self.events} records (4 partitions); pass-through and fused detector"
            f" run in turn {len(self.fused_rates)} times, best of each:",
            f"pass-through job: {passthrough:,.0f} records/s  ({_runs(self.passthrough_rates)})",
            f"CEP job (SQL):    {self.cep_rate:,.0f} records/s"
            f"  (ratio {self.cep_rate / passthrough:.2f}; one run)",
            f"fused detector:   {fused:,.0f} records/s"
            f"  (ratio {fused / passthrough:.2f};"
            f" {fused / self.cep_rate:.1f}x the CEP job; {_runs(self.fused_rates)})",
            f"marginal rates, each job's fixed cost (submission, the JIT compiling its freshly"
            f" loaded classes, the end of input) removed: (records of the topic - records of a"
            f" {self.small_events}-record topic) / (run time over it - run time over the small"
            " one), in the same round:",
            f"pass-through job: {max(self.passthrough_marginal):,.0f} records/s"
            f"  ({_runs(self.passthrough_marginal)})",
            f"fused detector:   {max(self.fused_marginal):,.0f} records/s"
            f"  (ratio {max(self.fused_marginal) / max(self.passthrough_marginal):.2f},"
            f" goal >= 0.7; {_runs(self.fused_marginal)})",
            f"alerts of the two detectors that differ: {self.alerts_differ}",
            f"real-time stream at {self.latency_rate:,.0f} events/s through the fused detector"
            " and the router:",
            *self.latency.lines(),
            self.state_heap.line(),
            "rule changes through update_thresholds (Update start -> answer, no restart): "
            + ", ".join(f"{seconds:.2f} s" for seconds in self.rule_changes_s)
            + " (goal < 2 s)",
        ]


def _runs(rates: list[float]) -> str:
    return "runs: " + ", ".join(f"{rate:,.0f}" for rate in rates)


def _bounded_run_s(rest: FlinkRest, job_id: str, records: int, timeout_s: float = 1800) -> float:
    """How long a bounded job ran, from its first task starting to the job finishing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = rest.job(job_id)
        if job["state"] == "FINISHED":
            started = min(vertex["start-time"] for vertex in job["vertices"])
            return float(job["end-time"] - started) / 1000
        if job["state"] in TERMINAL_STATES:
            raise RuntimeError(f"benchmark job {job['name']} ended {job['state']}")
        source = job["vertices"][0]
        log.info(
            "%s: %s, %s of %s records read",
            job["name"],
            job["state"],
            f"{source['metrics'].get('read-records', 0):,}",
            f"{records:,}",
        )
        time.sleep(5)
    rest.cancel(job_id)
    raise TimeoutError(f"benchmark job {job_id} did not finish in {timeout_s:g} s")


def alert_keys(settings: Settings, topic: str) -> set[tuple[str, str, datetime, datetime]]:
    """What identifies each alert on a topic: card, pattern, first and last event of the match."""
    alerts = (FraudAlert.model_validate_json(value) for _, value in read_to_end(settings, topic))
    return {(a.card_id, a.pattern, a.first_event_time, a.event_time) for a in alerts}


def _cep_job(
    settings: Settings,
    engine: DetectorEngine,
    name: str,
    source: str,
    mode: StartupMode,
    alerts: str | None = None,
) -> CepJobSpec:
    return CepJobSpec(
        engine=engine,
        job_name=name,
        source_topic=source,
        alerts_topic=alerts or settings.alerts_topic,
        dead_letter_topic=create_topic(settings, "bench-dlq", 1),
        startup_mode=mode,
        bounded=mode == "earliest-offset",
    )


def _preload(settings: Settings, events: int, seed: int) -> tuple[str, int]:
    """A fresh topic holding a seeded stream; returns the topic and its record count."""
    source = create_topic(settings, "bench-tx", 4)
    produce(
        settings,
        source,
        run_id=f"b{uuid.uuid4().hex[:5]}",
        seed=seed,
        rate=1000,
        duration_s=events / 1000,
        fraud_share=0.005,
        malformed_share=0.001,
        realtime=False,
    )
    return source, end_offsets(settings, source)


@dataclass
class BoundedRuns:
    passthrough: list[float]
    cep: float
    fused: list[float]
    passthrough_marginal: list[float]
    fused_marginal: list[float]
    alerts_differ: int


def _bounded_rates(
    settings: Settings, source: tuple[str, int], small: tuple[str, int], rounds: int
) -> BoundedRuns:
    """The pass-through job's and the fused detector's rates over the whole topic, run in turn
    `rounds` times (the pass-through rate swings by 2x between runs on this machine: side by
    side, the best of each is compared), and in the same rounds over the small topic, for each
    job's marginal rate; the CEP job's rate, once; and how many alerts only one of the two
    detectors raised."""
    rest = FlinkRest(settings)
    (topic, records), (small_topic, small_records) = source, small
    cep_s, cep_alerts = _detector_run(settings, rest, "sql", topic, records, "")
    runs = BoundedRuns([], records / cep_s, [], [], [], 0)
    for round_ in range(rounds):
        copy_small = _copy_run(settings, rest, small_topic, small_records)
        copy = _copy_run(settings, rest, topic, records)
        fused_small, _ = _detector_run(
            settings, rest, "fused", small_topic, small_records, f"-{round_}"
        )
        fused, alerts = _detector_run(settings, rest, "fused", topic, records, f"-{round_}")
        runs.passthrough.append(records / copy)
        runs.fused.append(records / fused)
        runs.passthrough_marginal.append(_marginal(records - small_records, copy - copy_small))
        runs.fused_marginal.append(_marginal(records - small_records, fused - fused_small))
        runs.alerts_differ = max(runs.alerts_differ, len(cep_alerts ^ alerts))
    return runs


def _marginal(records: int, seconds: float) -> float:
    # a noisy pair can make the big run no longer than the small one: no rate, not infinity
    return records / seconds if seconds > 0 else 0.0


def _copy_run(settings: Settings, rest: FlinkRest, source: str, records: int) -> float:
    copy = create_topic(settings, "bench-copy", 4)
    job = submit_python_job(
        settings,
        PROJECT_ROOT / "jobs" / "flink" / "copy_topic.py",
        [
            "--bootstrap-servers",
            settings.kafka_bootstrap_servers,
            "--source-topic",
            source,
            "--sink-topic",
            copy,
            "--job-name",
            f"bench-copy-{copy}",
            "--bounded",
        ],
    )
    return _bounded_run_s(rest, job, records)


def _detector_run(
    settings: Settings,
    rest: FlinkRest,
    engine: DetectorEngine,
    source: str,
    records: int,
    suffix: str,
) -> tuple[float, set[tuple[str, str, datetime, datetime]]]:
    topic = create_topic(settings, f"bench-alerts-{engine}", 1)
    spec = _cep_job(
        settings, engine, f"bench-{engine}-{source}{suffix}", source, "earliest-offset", topic
    )
    job = submit_cep_job(settings, spec)
    return _bounded_run_s(rest, job, records), alert_keys(settings, topic)


async def run_stream_benchmark(settings: Settings, events: int, latency_s: float) -> StreamReport:
    # Both jobs first run once over a small topic: the TaskManager's JIT compiler warms up on
    # the same code (a cold first job measured at half its warm rate).
    warm_up = await asyncio.to_thread(_preload, settings, events // 10, 2)
    await asyncio.to_thread(_bounded_rates, settings, warm_up, warm_up, 1)
    small = await asyncio.to_thread(_preload, settings, events // 4, 4)
    source = await asyncio.to_thread(_preload, settings, events, 3)
    runs = await asyncio.to_thread(_bounded_rates, settings, source, small, ROUNDS)
    fused = max(runs.fused)

    state_heap = await asyncio.to_thread(measure_state_heap, settings)
    latency_rate = min(fused / 2, GENERATOR_REALTIME_CAP)
    live = create_topic(settings, "bench-live", 4)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "worker",
        env={
            **os.environ,
            "HYBRID_FRAUD_TASK_QUEUE": f"bench-{live}",
            "HYBRID_METRICS_BIND_ADDRESS": "",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    client = await connect(settings)
    queue = f"bench-{live}"
    try:
        router = await _start_router(settings, queue)
        monitor = await client.start_workflow(
            FraudMonitorWorkflow.run,
            MonitorRequest.model_validate(
                _cep_job(
                    settings, "fused", f"bench-live-{live}", live, "latest-offset"
                ).model_dump()
            ),
            id=f"bench-monitor-{live}",
            task_queue=queue,
        )
        await monitor_running(monitor)
        await asyncio.sleep(5)  # the job's source is assigned its partitions
        run_id = f"l{uuid.uuid4().hex[:5]}"
        await asyncio.to_thread(
            produce,
            settings,
            live,
            run_id=run_id,
            seed=5,
            rate=latency_rate,
            duration_s=latency_s,
            fraud_share=0.002,
            malformed_share=0.0,
            realtime=True,
        )
        for _ in range(60):
            result = evaluate(settings.postgres_dsn, run_id)
            if result.overall.recall >= 0.99:
                break
            await asyncio.sleep(1)
        rule_changes = []
        for count in (9, 10, 8):
            began = time.monotonic()
            await monitor.execute_update(
                FraudMonitorWorkflow.update_thresholds, CepThresholds(velocity_count=count)
            )
            rule_changes.append(time.monotonic() - began)
        await router.cancel()
        await monitor.cancel()  # which cancels its Flink job
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(monitor.result(), 120)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        await worker.wait()
    return StreamReport(
        events=source[1],
        passthrough_rates=runs.passthrough,
        cep_rate=runs.cep,
        fused_rates=runs.fused,
        small_events=small[1],
        passthrough_marginal=runs.passthrough_marginal,
        fused_marginal=runs.fused_marginal,
        alerts_differ=runs.alerts_differ,
        latency_rate=latency_rate,
        latency=result,
        rule_changes_s=rule_changes,
        state_heap=state_heap,
    )


async def _start_router(settings: Settings, queue: str) -> WorkflowHandle[Any, None]:
    client = await connect(settings)
    group = f"router-{queue}"
    return await client.start_workflow(AlertRouterWorkflow.run, group, id=group, task_queue=queue)
