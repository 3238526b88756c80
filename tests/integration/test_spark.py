"""Spark: a batch job through spark-submit against the configured master reads Kafka."""

import json
import subprocess
import time
from pathlib import Path

from core.engines.spark import spark_environment, spark_submit_command
from core.kafka import create_topic
from core.settings import PROJECT_ROOT, Settings
from tests.support.kafka import produce
from tests.support.sockets import listening, on_loopback, session_of


def test_spark_submit_reads_a_kafka_topic(stack, base_settings: Settings, tmp_path: Path) -> None:
    topic = create_topic(base_settings, "spark-in", partitions=2)
    produce(base_settings, topic, [("a", "1")] * 3 + [("b", "2")] * 5)
    output = tmp_path / "summary"
    log = (tmp_path / "spark.log").open("w")  # a pipe nobody reads would fill and stall it
    spark = subprocess.Popen(
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
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its driver JVM and Python workers: one session to look at
    )
    # while it runs: its driver's RPC, block manager and UI listen on loopback only
    ports: set[str] = set()
    while spark.poll() is None:
        ports |= {address for address, pid in listening() if session_of(pid) == spark.pid}
        time.sleep(0.5)
    log.close()
    assert spark.returncode == 0, (tmp_path / "spark.log").read_text()[-3000:]
    assert ports, "no listening port of the Spark driver was seen"
    assert [address for address in ports if not on_loopback(address)] == []
    rows = [
        json.loads(line)
        for part in output.glob("part-*.json")
        for line in part.read_text().splitlines()
    ]
    assert sorted((r["key"], r["count"]) for r in rows) == [("a", 3), ("b", 5)]
