"""Pass-through Flink SQL job: copies every record of one Kafka topic to another, unchanged.

Proves the Kafka connector on the session cluster, and is the baseline the CEP job's throughput
is compared with. Run by hand:

    flink run -m localhost:8081 -d -py jobs/flink/copy_topic.py \
        --bootstrap-servers localhost:19092 --source-topic a --sink-topic b --job-name copy-a-b
"""

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--source-topic", required=True)
    parser.add_argument("--sink-topic", required=True)
    parser.add_argument("--job-name", required=True, help="deterministic, to find the job again")
    parser.add_argument(
        "--bounded",
        action="store_true",
        help="stop at the offsets that are the topic's end when the job starts (benchmarks)",
    )
    args = parser.parse_args()

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("pipeline.name", args.job_name)
    bounded = " 'scan.bounded.mode' = 'latest-offset'," if args.bounded else ""
    env.execute_sql(f"""
        CREATE TABLE source_topic (record BYTES) WITH (
            'connector' = 'kafka',
            'topic' = '{args.source_topic}',
            'properties.bootstrap.servers' = '{args.bootstrap_servers}',
            'properties.group.id' = '{args.job_name}',
            'scan.startup.mode' = 'earliest-offset',{bounded}
            'format' = 'raw'
        )""")
    env.execute_sql(f"""
        CREATE TABLE sink_topic (record BYTES) WITH (
            'connector' = 'kafka',
            'topic' = '{args.sink_topic}',
            'properties.bootstrap.servers' = '{args.bootstrap_servers}',
            'format' = 'raw'
        )""")
    env.execute_sql("INSERT INTO sink_topic SELECT record FROM source_topic")


if __name__ == "__main__":
    main()
