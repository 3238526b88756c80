"""Flink: a PyFlink SQL job on the session cluster reads one Kafka topic and writes another,
which proves the Kafka connector jar is on the cluster's classpath."""

from pathlib import Path

from core.engines.flink import FlinkRest, submit_python_job
from core.kafka import create_topic
from core.settings import PROJECT_ROOT, Settings
from tests.support.kafka import consume, produce
from tests.support.waiting import wait_for

COPY_JOB: Path = PROJECT_ROOT / "jobs" / "flink" / "copy_topic.py"


def test_sql_job_copies_a_topic_through_the_session_cluster(stack, base_settings: Settings) -> None:
    source = create_topic(base_settings, "flink-in")
    sink = create_topic(base_settings, "flink-out")
    records = [(f"k{i}", f"record {i}") for i in range(20)]
    produce(base_settings, source, records)
    job_name = f"copy-{source}"
    job_id = submit_python_job(
        base_settings,
        COPY_JOB,
        [
            "--bootstrap-servers",
            base_settings.kafka_bootstrap_servers,
            "--source-topic",
            source,
            "--sink-topic",
            sink,
            "--job-name",
            job_name,
        ],
    )
    rest = FlinkRest(base_settings)
    try:
        running = wait_for(
            lambda: [j for j in rest.jobs() if j["jid"] == job_id and j["state"] == "RUNNING"],
            timeout_s=120,
            what="the copy job to run",
        )
        assert running[0]["name"] == job_name
        copied = consume(base_settings, sink, count=len(records), timeout_s=120)
        assert sorted(value for _, value in copied) == sorted(value for _, value in records)
    finally:
        rest.cancel(job_id)
    wait_for(lambda: rest.job(job_id)["state"] == "CANCELED", 60, "the job to be cancelled")
