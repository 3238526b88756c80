"""Spark: a batch job through spark-submit against the configured master reads Kafka."""

import json
import subprocess
from pathlib import Path

from core.engines.spark import spark_environment, spark_submit_command
from core.kafka import create_topic
from core.settings import PROJECT_ROOT, Settings
from tests.support.kafka import produce


def test_spark_submit_reads_a_kafka_topic(stack, base_settings: Settings, tmp_path: Path) -> None:
    topic = create_topic(base_settings, "spark-in", partitions=2)
    produce(base_settings, topic, [("a", "1")] * 3 + [("b", "2")] * 5)
    output = tmp_path / "summary"
    done = subprocess.run(
        spark_submit_command(
            base_settings,
            PROJECT_ROOT / "jobs" / "spark" / "topic_summary.py",
            [
                "--bootstrap-servers",
                base_settings.kafka_bootstrap_servers,
                "--topic",
                topic,
                "--output",
                str(output),
            ],
            app_name=f"topic-summary-{topic}",
        ),
        env=spark_environment(base_settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [
        json.loads(line)
        for part in output.glob("part-*.json")
        for line in part.read_text().splitlines()
    ]
    assert sorted((r["key"], r["count"]) for r in rows) == [("a", 3), ("b", 5)]
