"""Raw records in and out of Kafka, for tests that look at the bytes."""

from __future__ import annotations

import time
import uuid

from core.kafka import consumer, poll_into, producer
from core.settings import Settings


def produce(settings: Settings, topic: str, records: list[tuple[str, str]]) -> None:
    sender = producer(settings, **{"enable.idempotence": True})
    for key, value in records:
        sender.produce(topic, key=key.encode(), value=value.encode())
    assert sender.flush(30) == 0


def consume(
    settings: Settings, topic: str, count: int, timeout_s: float = 60
) -> list[tuple[str | None, str]]:
    reader = consumer(settings, f"test-{uuid.uuid4().hex[:8]}", **{"auto.offset.reset": "earliest"})
    reader.subscribe([topic])
    received: list[tuple[str | None, str]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(received) < count and time.monotonic() < deadline:
            poll_into(reader, received)
    finally:
        reader.close()
    return received
