"""The streaming benchmark: Kafka -> Flink CEP -> alerts, against a pass-through job on the same
topic, then detection latency at half the measured rate, with precision and recall.

1. A seeded stream is preloaded into a fresh topic (the generator runs ahead of the clock).
2. The pass-through job copies the topic; the CEP job reads it. Each rate is the records
   processed between the first and the last record seen (job start-up excluded): the copy's
   output offsets for the pass-through, the CEP operators' input counts for the CEP job.
3. A real-time stream at half the CEP rate (capped by what the generator can send) goes through
   the CEP job and the alert router; latency is event time of the match's last event -> alert
   row in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from app.engines.flink import FlinkRest, submit_python_job
from app.settings import PROJECT_ROOT, Settings
from app.streaming.evaluate import Evaluation, evaluate
from app.streaming.generator import produce

GENERATOR_REALTIME_CAP = 1500.0  # events/s the Python generator sustains on the wall clock


@dataclass
class StreamReport:
    events: int
    passthrough_rate: float
    cep_rate: float
    latency_rate: float
    latency: Evaluation

    def lines(self) -> list[str]:
        return [
            f"preloaded {self.events} records (4 partitions)",
            f"pass-through job: {self.passthrough_rate:,.0f} records/s",
            f"CEP job:          {self.cep_rate:,.0f} records/s"
            f"  (ratio {self.cep_rate / self.passthrough_rate:.2f}, goal >= 0.7)",
            f"real-time stream at {self.latency_rate:,.0f} events/s through CEP and the router:",
            *self.latency.lines(),
        ]


def create_topic(settings: Settings, prefix: str, partitions: int = 1) -> str:
    """A fresh topic with a random suffix, for one benchmark or test run."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def _end_offsets(settings: Settings, topic: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "bench-offsets"}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def _rate(progress: Callable[[], int], total: int, timeout_s: float = 600) -> float:
    """Records/s between the first and the last record, polling a progress counter."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        done, now = progress(), time.monotonic()
        if first is None and done > 0:
            first = (now, done)
        if done >= total and first is not None:
            return (done - first[1]) / max(now - first[0], 1e-3)
        time.sleep(0.2)
    raise TimeoutError(f"only {progress()} of {total} records processed in {timeout_s:g} s")


def _cep_inputs(rest: FlinkRest, job_id: str) -> int:
    vertices = rest.job(job_id).get("vertices", [])
    matchers = [v for v in vertices if "Match" in v["name"] or "MATCH" in v["name"]]
    if not matchers:
        return 0
    return min(v["metrics"].get("read-records", 0) for v in matchers)


def _cep_arguments(settings: Settings, name: str, source: str, mode: str) -> list[str]:
    return [
        "--bootstrap-servers",
        settings.kafka_bootstrap_servers,
        "--job-name",
        name,
        "--source-topic",
        source,
        "--alerts-topic",
        settings.alerts_topic,
        "--dead-letter-topic",
        create_topic(settings, "bench-dlq", 1),
        "--startup-mode",
        mode,
    ]


async def run_stream_benchmark(settings: Settings, events: int, latency_s: float) -> StreamReport:
    rest = FlinkRest(settings)
    source = create_topic(settings, "bench-tx", 4)
    await asyncio.to_thread(
        produce,
        settings.kafka_bootstrap_servers,
        source,
        settings.postgres_dsn,
        run_id=f"b{uuid.uuid4().hex[:5]}",
        seed=3,
        rate=1000,
        duration_s=events / 1000,
        fraud_share=0.005,
        malformed_share=0.001,
        realtime=False,
    )
    total = _end_offsets(settings, source)

    copy = create_topic(settings, "bench-copy", 4)
    copy_job = await asyncio.to_thread(
        submit_python_job,
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
        ],
    )
    try:
        passthrough = await asyncio.to_thread(_rate, lambda: _end_offsets(settings, copy), total)
    finally:
        rest.cancel(copy_job)

    cep_job = await asyncio.to_thread(
        submit_python_job,
        settings,
        PROJECT_ROOT / "jobs" / "flink" / "fraud_cep.py",
        _cep_arguments(settings, f"bench-cep-{source}", source, "earliest-offset"),
    )
    try:
        # the CEP operators see the valid records only
        valid = total - round(total * 0.001)
        cep = await asyncio.to_thread(_rate, lambda: _cep_inputs(rest, cep_job), int(valid * 0.99))
    finally:
        rest.cancel(cep_job)

    latency_rate = min(cep / 2, GENERATOR_REALTIME_CAP)
    live = create_topic(settings, "bench-live", 4)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        env={**os.environ, "HYBRID_FRAUD_TASK_QUEUE": f"bench-{live}"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    live_job = await asyncio.to_thread(
        submit_python_job,
        settings,
        PROJECT_ROOT / "jobs" / "flink" / "fraud_cep.py",
        _cep_arguments(settings, f"bench-live-{live}", live, "latest-offset"),
    )
    try:
        router = await _start_router(settings, f"bench-{live}")
        await asyncio.sleep(5)  # the job's source is assigned its partitions
        run_id = f"l{uuid.uuid4().hex[:5]}"
        await asyncio.to_thread(
            produce,
            settings.kafka_bootstrap_servers,
            live,
            settings.postgres_dsn,
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
        await router.cancel()
    finally:
        rest.cancel(live_job)
        os.killpg(worker.pid, signal.SIGTERM)
        await worker.wait()
    return StreamReport(total, passthrough, cep, latency_rate, result)


async def _start_router(settings: Settings, queue: str):
    from app.temporal_client import connect
    from workflows.alert_router import AlertRouterWorkflow

    client = await connect(settings)
    group = f"router-{queue}"
    return await client.start_workflow(AlertRouterWorkflow.run, group, id=group, task_queue=queue)
