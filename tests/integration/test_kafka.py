"""Kafka: the broker, its project topics and a confluent-kafka round trip."""

from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from core.kafka import create_topic
from core.settings import Settings
from tests.support.kafka import consume, produce


def test_project_topics_exist_with_their_partition_counts(stack, base_settings: Settings) -> None:
    topics = (
        AdminClient({"bootstrap.servers": base_settings.kafka_bootstrap_servers})
        .list_topics(timeout=10)
        .topics
    )
    assert (
        len(topics[base_settings.transactions_topic].partitions)
        == base_settings.transactions_partitions
    )
    assert len(topics[base_settings.alerts_topic].partitions) == base_settings.alerts_partitions
    assert base_settings.dead_letter_topic in topics
    assert base_settings.rules_applied_topic in topics


def test_the_rules_topic_is_compacted(stack, base_settings: Settings) -> None:
    """It keeps the latest rule set of each job, however old."""
    client = AdminClient({"bootstrap.servers": base_settings.kafka_bootstrap_servers})
    resource = ConfigResource(ResourceType.TOPIC, base_settings.rules_topic)
    configs = client.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"


def test_produce_consume_round_trip(stack, base_settings: Settings) -> None:
    topic = create_topic(base_settings, "roundtrip", partitions=3)
    sent = [(f"card-{i % 5}", f'{{"n": {i}}}') for i in range(50)]
    produce(base_settings, topic, sent)
    received = consume(base_settings, topic, count=len(sent))
    assert sorted(received) == sorted(sent)
