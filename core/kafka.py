"""Kafka through confluent-kafka: client configuration, the project's topics, offsets, and
reading a topic to its end.

Every client is made here so that each gets the same settings, and librdkafka's own log lines
(`%4|...|GETPID|...`) go through Python's logging (logger `kafka`) instead of onto the terminal.
Everything here blocks: call it in a thread from async code."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from core.errors import InvalidInput, ServiceUnavailable
from core.settings import Settings

LOGGER = logging.getLogger("kafka")
# where no logging is set up (a CLI command), librdkafka's transient warnings (e.g. "GETPID ...
# Coordinator load in progress: retrying") went to stderr through logging's last resort
LOGGER.addHandler(logging.NullHandler())


def client_config(settings: Settings, **options: Any) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, "logger": LOGGER, **options}


def admin(settings: Settings, **options: Any) -> AdminClient:
    return AdminClient(client_config(settings, **options))


def consumer(settings: Settings, group_id: str, **options: Any) -> Consumer:
    return Consumer(client_config(settings, **{"group.id": group_id, **options}))


def producer(settings: Settings, **options: Any) -> Producer:
    return Producer(client_config(settings, **options))


# a rules topic keeps the latest rule set of each job (its key) for as long as the topic lives
COMPACTED = {"cleanup.policy": "compact"}


def project_topics(settings: Settings) -> dict[str, int]:
    """The topics the system uses, with their partition counts."""
    return {
        settings.transactions_topic: settings.transactions_partitions,
        settings.alerts_topic: settings.alerts_partitions,
        settings.dead_letter_topic: 1,
        settings.rules_topic: 1,
        settings.rules_applied_topic: 1,
    }


def ensure_topics(
    settings: Settings,
    topics: dict[str, int] | None = None,
    compacted: frozenset[str] = frozenset(),
) -> None:
    """Create the topics (the project's by default) with their partition counts, the rules
    topic and those in `compacted` compacted; existing topics are kept."""
    topics = project_topics(settings) if topics is None else topics
    compacted = compacted | {settings.rules_topic}
    client = admin(settings)
    try:
        existing = client.list_topics(timeout=10).topics
    except KafkaException as exc:
        raise kafka_unavailable(settings, exc) from exc
    missing = [
        NewTopic(
            name,
            num_partitions=count,
            replication_factor=1,
            config=COMPACTED if name in compacted else {},
        )
        for name, count in topics.items()
        if name not in existing
    ]
    for future in client.create_topics(missing).values() if missing else []:
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def send_record(sender: Producer, topic: str, key: bytes, value: bytes) -> None:
    """Queue one record, waiting for deliveries to drain while the local queue is full."""
    while True:
        try:
            sender.produce(topic, key=key, value=value)
            sender.poll(0)
            return
        except BufferError:
            sender.poll(0.05)


def create_topic(settings: Settings, prefix: str, partitions: int = 1) -> str:
    """A fresh topic with a random suffix, for one benchmark, recording or test run."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client = admin(settings)  # kept until the future resolves: a destroyed client fails it
    client.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def watermarks(
    settings: Settings, topic: str, *, stable: bool = True
) -> dict[int, tuple[int, int]]:
    """Each partition's (low, high) offsets. `stable`: high is the last stable offset, short of
    any transaction still open (a read_committed consumer is told that one); else the high
    watermark, which lags no committed transaction while the broker writes its markers."""
    isolation = "read_committed" if stable else "read_uncommitted"
    reader = consumer(settings, "offsets", **{"isolation.level": isolation})
    try:
        try:
            metadata = reader.list_topics(topic, timeout=10).topics[topic]
        except KafkaException as exc:
            raise kafka_unavailable(settings, exc) from exc
        if metadata.error is not None:
            raise InvalidInput(f"Kafka topic {topic}: {metadata.error.str()}", subject="kafka")
        return {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in metadata.partitions
        }
    finally:
        reader.close()


def end_offsets(settings: Settings, topic: str) -> int:
    """How many records the topic has ever held: the sum of its partitions' high watermarks."""
    return sum(high for _, high in watermarks(settings, topic).values())


def kafka_unavailable(settings: Settings, cause: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka is not reachable at {settings.kafka_bootstrap_servers} ({cause})",
        "start the local stack with `./hybrid stack up` or set HYBRID_KAFKA_BOOTSTRAP_SERVERS",
    )


def read_to_end(
    settings: Settings, topic: str, timeout_s: float = 60, committed_only: bool = False
) -> list[tuple[str | None, str]]:
    """Every record on the topic when the call begins: read until each partition's position
    reaches the end it had then (or timeout_s, for records a transaction still holds back).
    `committed_only`: what Kafka transactions committed (read_committed), not what they
    aborted."""
    isolation = "read_committed" if committed_only else "read_uncommitted"
    reader = consumer(settings, f"read-{uuid.uuid4().hex[:8]}", **{"isolation.level": isolation})
    received: list[tuple[str | None, str]] = []
    try:
        # the high watermark: a read_committed position reaches it once a committed
        # transaction's markers are written, while the last stable offset may still lag
        ends = {p: high for p, (_, high) in watermarks(settings, topic, stable=False).items()}
        reader.assign([TopicPartition(topic, p, 0) for p in ends])
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
