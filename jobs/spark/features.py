"""Batch feature ETL: card transactions from Kafka, between fixed offsets, into per-transaction
features as partitioned Parquet in the lake.

Reads exactly the planned offset range of each partition (the planner keeps the ranges in
PostgreSQL, so runs never overlap and a re-run reads the same records), parses and validates the
transactions, and computes for each one, over the card's earlier transactions (this run's plus
the lookback taken from the lake's earlier runs):

    txn_count_5m, txn_count_1h, txn_count_24h       transactions in the window, this one included
    amount_sum_1h, amount_avg_24h, amount_max_24h, amount_std_24h
    distinct_countries_24h, distinct_merchants_24h
    seconds_since_prev                              -1 for the card's first transaction
    amount_vs_history                               amount / mean of the card's earlier amounts
    txn_count_7d, txn_count_30d, amount_avg_7d, amount_avg_30d   the card's spending baselines
    amount_vs_avg_24h, amount_vs_avg_7d, amount_vs_avg_30d       the amount against them
    hour_of_day, is_night, is_weekend               the event time's (UTC) hour, 0-5 h, Sat/Sun
    merchant_txn_count_{1d,7d,30d}, merchant_risk_{1d,7d,30d}
        the merchant's transactions and the fraud share among them over the 1, 7 and 30 whole
        days (UTC) that end --label-delay-days before the transaction's day: labels arrive late,
        so a feature never uses a label of a transaction less than the delay before it
    cep_alerts_24h                                  CEP alerts on the card in the 24 h before
    is_fraud, fraud_pattern                         the ground-truth labels, for training

The lookback covers the widest window that reaches back: 30 days plus the label delay.

Commit is atomic: the output is written to <lake>/features/_staging/run_id=<id> and renamed to
<lake>/features/run_id=<id>; a failed run leaves nothing under features/ that readers see
(Spark skips paths that start with an underscore), and a run that is already committed is not
written again. The lake must be a filesystem the driver can rename in (local, or one mounted on
every node). The last line on stdout is the run's manifest as JSON. Run by hand:

    spark-submit --master 'local[2]' --jars <.stack/jars/spark/*.jar, comma-separated> \
        jobs/spark/features.py --bootstrap-servers localhost:19092 --topic transactions \
        --run-id r1 --offsets '{"0": [0, 1000]}' --lake-dir .stack/lake \
        --jdbc-url 'jdbc:postgresql://localhost:55432/hybrid?user=hybrid'

with the database password in HYBRID_ETL_JDBC_PASSWORD (the environment, not the command line,
which every user of the machine sees in `ps`).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql import types as T

# The fields of a transaction event (the project's `Transaction` model, schema version 1) that
# the features read; the amount is a decimal string on the wire, the event time ISO-8601 UTC. A
# unit test checks them against the model.
TRANSACTION = T.StructType(
    [
        T.StructField("schema_version", T.IntegerType()),
        T.StructField("txn_id", T.StringType()),
        T.StructField("card_id", T.StringType()),
        T.StructField("customer_id", T.StringType()),
        T.StructField("merchant_id", T.StringType()),
        T.StructField("amount", T.StringType()),
        T.StructField("country", T.StringType()),
        T.StructField("event_time", T.StringType()),
    ]
)
BASE_COLUMNS = ["txn_id", "card_id", "customer_id", "merchant_id", "country", "amount", "ts"]
# What this job can compute (the project's feature list, passed as --features, is checked against
# it by a unit test), and the ground truth it joins to every row.
COMPUTED_FEATURES = [
    "amount",
    "txn_count_5m",
    "txn_count_1h",
    "txn_count_24h",
    "amount_sum_1h",
    "amount_avg_24h",
    "amount_max_24h",
    "amount_std_24h",
    "distinct_countries_24h",
    "distinct_merchants_24h",
    "seconds_since_prev",
    "amount_vs_history",
    "txn_count_7d",
    "txn_count_30d",
    "amount_avg_7d",
    "amount_avg_30d",
    "amount_vs_avg_24h",
    "amount_vs_avg_7d",
    "amount_vs_avg_30d",
    "hour_of_day",
    "is_night",
    "is_weekend",
    "merchant_txn_count_1d",
    "merchant_txn_count_7d",
    "merchant_txn_count_30d",
    "merchant_risk_1d",
    "merchant_risk_7d",
    "merchant_risk_30d",
    "cep_alerts_24h",
]
LABEL_COLUMNS = ["is_fraud", "fraud_pattern"]
# the PostgreSQL password (the --jdbc-url has none); the ETL activity sets it
JDBC_PASSWORD_VARIABLE = "HYBRID_ETL_JDBC_PASSWORD"
MINUTE, HOUR, DAY = 60, 3600, 86400
MERCHANT_WINDOWS_DAYS = (1, 7, 30)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--offsets", required=True, help='{"<partition>": [start, end], ...}')
    parser.add_argument(
        "--history-runs", default="", help="earlier runs of the topic, comma-separated"
    )
    parser.add_argument("--lake-dir", required=True)
    parser.add_argument("--jdbc-url", required=True)
    parser.add_argument(
        "--label-delay-days",
        type=int,
        default=7,
        help="how late fraud labels arrive: the merchant-risk windows end this long before",
    )
    parser.add_argument(
        "--features",
        default=",".join(COMPUTED_FEATURES),
        help="the features to write, comma-separated (default: all this job computes)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.features.split(",")) - set(COMPUTED_FEATURES))
    if unknown:
        parser.error(f"unknown features: {', '.join(unknown)} (known: {COMPUTED_FEATURES})")
    return args


def read_transactions(spark: SparkSession, args: argparse.Namespace) -> DataFrame:
    ranges = json.loads(args.offsets)
    starts = {args.topic: {p: start for p, (start, _) in ranges.items()}}
    ends = {args.topic: {p: end for p, (_, end) in ranges.items()}}
    records = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap_servers)
        .option("subscribe", args.topic)
        # what an import's aborted Kafka transaction wrote is not a transaction that happened
        .option("kafka.isolation.level", "read_committed")
        .option("startingOffsets", json.dumps(starts))
        .option("endingOffsets", json.dumps(ends))
        .load()
    )
    parsed = records.select(F.from_json(F.col("value").cast("string"), TRANSACTION).alias("t"))
    return (
        parsed.select(
            "t.txn_id",
            "t.card_id",
            "t.customer_id",
            "t.merchant_id",
            "t.country",
            F.col("t.amount").try_cast("decimal(12,2)").cast("double").alias("amount"),
            F.to_timestamp("t.event_time", "yyyy-MM-dd'T'HH:mm:ss.SSSX").alias("ts"),
            F.col("t.schema_version").alias("schema_version"),
        )
        .where(
            (F.col("schema_version") == 1)
            & F.col("txn_id").isNotNull()
            & F.col("card_id").isNotNull()
            & (F.col("amount") > 0)
            & F.col("ts").isNotNull()
        )
        .drop("schema_version")
        .dropDuplicates(["txn_id"])  # a producer retry may have written a record twice
    )


def lookback(
    spark: SparkSession, features_dir: str, runs: list[str], since: datetime
) -> DataFrame | None:
    if not runs or not os.path.isdir(features_dir):
        return None
    paths = [os.path.join(features_dir, f"run_id={run}") for run in runs]
    existing = [p for p in paths if any(name.startswith("dt=") for name in _listing(p))]
    if not existing:
        return None
    earlier = spark.read.option("basePath", features_dir).parquet(*existing)
    return earlier.where(F.col("ts") >= F.lit(since)).select(*BASE_COLUMNS)


def _listing(path: str) -> list[str]:
    return os.listdir(path) if os.path.isdir(path) else []


def with_features(history: DataFrame) -> DataFrame:
    seconds = F.col("ts").cast("long")
    card = Window.partitionBy("card_id").orderBy(seconds)

    def last(span_s: int) -> WindowSpec:
        return card.rangeBetween(-span_s, 0)

    earlier = Window.partitionBy("card_id").orderBy("ts", "txn_id")
    return (
        history.withColumn("txn_count_5m", F.count("*").over(last(5 * MINUTE)))
        .withColumn("txn_count_1h", F.count("*").over(last(HOUR)))
        .withColumn("txn_count_24h", F.count("*").over(last(DAY)))
        .withColumn("amount_sum_1h", F.sum("amount").over(last(HOUR)))
        .withColumn("amount_avg_24h", F.avg("amount").over(last(DAY)))
        .withColumn("amount_max_24h", F.max("amount").over(last(DAY)))
        .withColumn(
            "amount_std_24h", F.coalesce(F.stddev_pop("amount").over(last(DAY)), F.lit(0.0))
        )
        .withColumn("distinct_countries_24h", F.size(F.collect_set("country").over(last(DAY))))
        .withColumn("distinct_merchants_24h", F.size(F.collect_set("merchant_id").over(last(DAY))))
        .withColumn(
            "seconds_since_prev",
            F.coalesce(
                (F.col("ts").cast("double") - F.lag("ts").over(earlier).cast("double")),
                F.lit(-1.0),
            ),
        )
        .withColumn(
            "amount_vs_history",
            F.coalesce(
                F.col("amount")
                / F.avg("amount").over(earlier.rowsBetween(Window.unboundedPreceding, -1)),
                F.lit(1.0),
            ),
        )
        .withColumn("txn_count_7d", F.count("*").over(last(7 * DAY)))
        .withColumn("txn_count_30d", F.count("*").over(last(30 * DAY)))
        .withColumn("amount_avg_7d", F.avg("amount").over(last(7 * DAY)))
        .withColumn("amount_avg_30d", F.avg("amount").over(last(30 * DAY)))
        .withColumn("amount_vs_avg_24h", F.col("amount") / F.col("amount_avg_24h"))
        .withColumn("amount_vs_avg_7d", F.col("amount") / F.col("amount_avg_7d"))
        .withColumn("amount_vs_avg_30d", F.col("amount") / F.col("amount_avg_30d"))
        .withColumn("hour_of_day", F.hour("ts"))
        .withColumn("is_night", (F.col("hour_of_day") < 6).cast("int"))
        .withColumn("is_weekend", F.dayofweek("ts").isin(1, 7).cast("int"))
    )


def with_merchant_risk(labelled: DataFrame, label_delay_days: int) -> DataFrame:
    """The merchant-risk features, from a daily table per merchant (transactions and frauds
    per UTC day): the window of W days for a transaction on day d is days d-delay-W to
    d-delay-1, so every label it counts belongs to a transaction at least the delay before."""
    day = F.floor(F.col("ts").cast("long") / DAY)
    daily = (
        labelled.where(F.col("merchant_id").isNotNull())
        .groupBy("merchant_id", day.alias("day"))
        .agg(F.count("*").alias("n"), F.sum("is_fraud").alias("frauds"))
    )
    merchant_days = Window.partitionBy("merchant_id").orderBy("day")
    for width in MERCHANT_WINDOWS_DAYS:
        window = merchant_days.rangeBetween(-(label_delay_days + width), -(label_delay_days + 1))
        count, frauds = F.sum("n").over(window), F.sum("frauds").over(window)
        daily = daily.withColumn(f"merchant_txn_count_{width}d", F.coalesce(count, F.lit(0)))
        daily = daily.withColumn(
            f"merchant_risk_{width}d",
            F.when(count > 0, frauds / count).otherwise(F.lit(0.0)),
        )
    columns = [
        f"merchant_{kind}_{w}d" for w in MERCHANT_WINDOWS_DAYS for kind in ("txn_count", "risk")
    ]
    return (
        labelled.withColumn("day", day)
        .join(daily.select("merchant_id", "day", *columns), ["merchant_id", "day"], "left")
        .drop("day")
        .fillna(0, subset=columns)
    )


def jdbc_table(spark: SparkSession, jdbc_url: str, query: str) -> DataFrame:
    reader = (
        spark.read.format("jdbc")
        .option("driver", "org.postgresql.Driver")
        .option("url", jdbc_url)
        .option("query", query)
    )
    password = os.environ.get(JDBC_PASSWORD_VARIABLE)
    if password is not None:
        reader = reader.option("password", password)  # Spark redacts it in its UI
    return reader.load()


def with_labels(spark: SparkSession, history: DataFrame, jdbc_url: str) -> DataFrame:
    """The ground truth of every row, history included (the merchant-risk windows count the
    frauds of earlier days): the generator's labels and the imported datasets'."""
    generated = jdbc_table(spark, jdbc_url, "select pattern, txn_ids from fraud_labels").select(
        F.explode("txn_ids").alias("txn_id"), F.col("pattern").alias("fraud_pattern")
    )
    imported = jdbc_table(
        spark, jdbc_url, "select txn_id, scenario as fraud_pattern from transaction_labels"
    )
    labels = (
        generated.unionByName(imported)
        .groupBy("txn_id")
        .agg(F.min("fraud_pattern").alias("fraud_pattern"))
    )
    return history.join(labels, "txn_id", "left").withColumn(
        "is_fraud", F.col("fraud_pattern").isNotNull().cast("int")
    )


def with_cep_alerts(spark: SparkSession, features: DataFrame, jdbc_url: str) -> DataFrame:
    alerts = jdbc_table(
        spark, jdbc_url, "select card_id as alert_card, event_time as alert_time from fraud_alerts"
    )
    counts = (
        features.select("txn_id", "card_id", "ts")
        .join(
            alerts,
            (F.col("alert_card") == F.col("card_id"))
            & (F.col("alert_time") <= F.col("ts"))
            & (F.col("alert_time") > F.col("ts") - F.expr("INTERVAL 24 HOURS")),
        )
        .groupBy("txn_id")
        .agg(F.count("*").alias("cep_alerts_24h"))
    )
    return features.join(counts, "txn_id", "left").withColumn(
        "cep_alerts_24h", F.coalesce("cep_alerts_24h", F.lit(0))
    )


def report_progress(spark: SparkSession, every_s: float = 5.0) -> threading.Event:
    """Print the running stages and their finished tasks every few seconds, from Spark's own
    status tracker: whoever follows the log (the supervising activity's heartbeat, the demo)
    sees the run move. Set the returned event to stop."""
    tracker = spark.sparkContext.statusTracker()
    stop = threading.Event()

    def loop() -> None:
        last = ""
        while not stop.wait(every_s):
            stages = [tracker.getStageInfo(stage) for stage in tracker.getActiveStageIds()]
            line = "; ".join(
                f"stage {s.stageId} ({s.name.split(' at ')[0]}): "
                f"{s.numCompletedTasks}/{s.numTasks} tasks"
                for s in sorted(filter(None, stages), key=lambda s: s.stageId)
            )
            if line and line != last:
                print(f"[features] {line}", flush=True)
                last = line

    threading.Thread(target=loop, name="progress", daemon=True).start()
    return stop


def main() -> None:
    args = arguments()
    features_dir = os.path.join(os.path.abspath(args.lake_dir), "features")
    final = os.path.join(features_dir, f"run_id={args.run_id}")
    manifest_path = os.path.join(final, "_manifest.json")
    if os.path.exists(manifest_path):  # committed by an earlier attempt of this run
        with open(manifest_path) as committed:
            print(json.dumps(json.load(committed) | {"already_committed": True}))
        return

    spark = SparkSession.builder.getOrCreate()
    # standard Parquet timestamps (UTC, microseconds), which pyarrow and Ray Data read as such
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # hour_of_day, days and dt are UTC
    progress = report_progress(spark)
    print(f"[features] reading the planned offsets of {args.topic}", flush=True)
    current = read_transactions(spark, args).cache()
    first, rows = current.agg(F.min("ts"), F.count("*")).collect()[0]
    print(f"[features] {rows} transactions read; computing features", flush=True)
    staging = os.path.join(features_dir, "_staging", f"run_id={args.run_id}")
    if rows:
        runs = [run for run in args.history_runs.split(",") if run]
        reach = timedelta(days=max(MERCHANT_WINDOWS_DAYS) + args.label_delay_days)
        earlier = lookback(spark, features_dir, runs, first - reach)
        history = current.withColumn("current", F.lit(True))
        if earlier is not None:
            history = history.unionByName(earlier.withColumn("current", F.lit(False)))
        labelled = with_labels(spark, history, args.jdbc_url)
        features = with_merchant_risk(with_features(labelled), args.label_delay_days)
        written = [*dict.fromkeys([*BASE_COLUMNS, *args.features.split(","), *LABEL_COLUMNS])]
        (
            with_cep_alerts(spark, features.where("current").drop("current"), args.jdbc_url)
            .select(*written)
            .withColumn("dt", F.date_format("ts", "yyyy-MM-dd"))
            .write.mode("overwrite")
            .partitionBy("dt")
            .parquet(staging)
        )
    else:
        os.makedirs(staging, exist_ok=True)
    manifest = {
        "run_id": args.run_id,
        "topic": args.topic,
        "offsets": json.loads(args.offsets),
        "rows": rows,
        "output": final,
    }
    with open(os.path.join(staging, "_manifest.json"), "w") as out:
        json.dump(manifest, out)
    os.rename(staging, final)  # the commit
    progress.set()
    spark.stop()
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
