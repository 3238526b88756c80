"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Consumer, Producer

from core.settings import Settings
from tools.bench.stream import create_topic

T = TypeVar("T")


def new_topic(settings: Settings, prefix: str, partitions: int = 1) -> str:
    return create_topic(settings, prefix, partitions)


def produce(settings: Settings, topic: str, records: list[tuple[str, str]]) -> None:
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True}
    )
    for key, value in records:
        producer.produce(topic, key=key.encode(), value=value.encode())
    assert producer.flush(30) == 0


def consume(
    settings: Settings, topic: str, count: int, timeout_s: float = 60
) -> list[tuple[str | None, str]]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    received: list[tuple[str | None, str]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            key = message.key()
            received.append((key.decode() if key else None, message.value().decode()))
    finally:
        consumer.close()
    return received


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


# What keeps a test's worker process apart from the stack's worker and the demo's state.
WORKER_PROCESS_SETTINGS = (
    "order_task_queue",
    "fraud_task_queue",
    "pipeline_task_queue",
    "fraud_model_name",
    "payment_latency_ms",
    "lake_dir",
    "model_store_dir",
)


async def start_worker_process(settings: Settings) -> asyncio.subprocess.Process:
    """The worker as a process of its own session (to be killed with its whole group), with the
    test's task queues, model name, payment latency, lake and model store; no metrics port."""
    isolated = {
        f"HYBRID_{name.upper()}": str(getattr(settings, name)) for name in WORKER_PROCESS_SETTINGS
    }
    env = {**os.environ, **isolated, "HYBRID_METRICS_BIND_ADDRESS": ""}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "worker",
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
