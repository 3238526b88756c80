"""Raw records in and out of Kafka, for tests that look at the bytes."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from core.kafka import consumer, producer
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


def consume_to_end(
    settings: Settings, topic: str, timeout_s: float = 60
) -> list[tuple[str | None, str]]:
    """Every record on the topic when the call begins: read until each partition's position
    reaches the end it had then (or timeout_s, for records a transaction still holds back)."""
    reader = consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
    received: list[tuple[str | None, str]] = []
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        reader.assign([TopicPartition(topic, p, 0) for p in partitions])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = {tp.partition: tp.offset for tp in reader.position(reader.assignment())}
            if all(positions[p] >= end for p, end in ends.items() if end > 0):
                break
            poll_into(reader, received)
    finally:
        reader.close()
    return received


def poll_into(reader: Consumer, received: list[tuple[str | None, str]]) -> None:
    """One poll: the record it brings, if any, decoded onto `received`."""
    message = reader.poll(0.5)
    if message is not None and not message.error():
        key, value = message.key(), message.value() or b""
        received.append((key.decode() if key else None, value.decode()))
