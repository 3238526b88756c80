"""A tiny Spark batch job: reads a Kafka topic from earliest to latest offsets and writes the
record count per key as JSON. Proves the Kafka source jars travel with spark-submit.

Run by hand: spark-submit --master 'local[2]' --jars <.stack/jars/spark/*.jar, comma-separated> \
    jobs/spark/topic_summary.py --bootstrap-servers localhost:19092 --topic t --output /tmp/out
"""

import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    spark = SparkSession.builder.getOrCreate()
    records = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap_servers)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    summary = records.groupBy(F.col("key").cast("string").alias("key")).count()
    summary.coalesce(1).write.mode("overwrite").json(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
