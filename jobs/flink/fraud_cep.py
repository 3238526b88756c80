"""Fraud detection with Flink CEP: SQL MATCH_RECOGNIZE over card transactions on Kafka.

One pattern per fraud scenario, partitioned by card and ordered by event time (watermarks with a
bounded delay; an idle-partition timeout is an option, off by default). Alerts go to the alerts
topic as JSON with an id that is deterministic (pattern, card, first transaction of the match), so
a replay after a restart produces the same ids and the consumer can drop duplicates. Malformed
events go, unchanged, to the dead-letter topic; the job keeps running. Thresholds are arguments
(a pattern can be switched off); changing them means a new job, restored from a savepoint.
Run by hand:

    flink run -m localhost:8081 -d -py jobs/flink/fraud_cep.py --bootstrap-servers \
        localhost:19092 --job-name fraud-cep
"""

from __future__ import annotations

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment

# The fields of a transaction event (the project's `Transaction` model, schema version 1) that
# detection reads, with their SQL types: the amount is a decimal string on the wire. A unit test
# checks them against the model.
TRANSACTION_COLUMNS = {
    "schema_version": "INT",
    "txn_id": "STRING",
    "card_id": "STRING",
    "customer_id": "STRING",
    "amount": "STRING",
    "country": "STRING",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "event_time": "TIMESTAMP_LTZ(3)",
}
EVENT_TIME = "TO_TIMESTAMP(REPLACE(REPLACE({field}, 'T', ' '), 'Z', ''), 'yyyy-MM-dd HH:mm:ss.SSS')"


def flag(text: str) -> bool:
    """A pattern's on/off switch: true or false."""
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"true or false, not {text!r}")
    return text.lower() == "true"


def parser() -> argparse.ArgumentParser:
    """The job's arguments; their defaults are the project's CepJobSpec defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument(
        "--job-name", default="fraud-cep", help="deterministic, to find the job again"
    )
    parser.add_argument("--source-topic", default="transactions")
    parser.add_argument("--alerts-topic", default="fraud-alerts")
    parser.add_argument("--dead-letter-topic", default="transactions-dlq")
    # read by the fused detector only (rules changed live); this job takes its rules from here
    parser.add_argument("--rules-topic", default="fraud-rules")
    parser.add_argument("--rules-applied-topic", default="fraud-rules-applied")
    parser.add_argument("--rule-version", type=int, default=0, help="carried by every alert")
    parser.add_argument("--group-id", default=None, help="defaults to the job name")
    parser.add_argument(
        "--startup-mode",
        default="group-offsets",
        choices=["group-offsets", "earliest-offset", "latest-offset"],
    )
    parser.add_argument(
        "--bounded",
        action="store_true",
        help="stop at the offsets that are the topic's end when the job starts (benchmarks)",
    )
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--checkpoint-interval-s", type=int, default=10)
    parser.add_argument("--watermark-delay-ms", type=int, default=300)
    # 0 = partitions never go idle. With a timeout, Flink 2.2's Kafka source drops records as
    # late after idle splits resume (measured: after a restore, only one partition's frauds were
    # detected; cf. FLINK-40504). Set it only for topics with partitions that stay silent.
    parser.add_argument("--idle-timeout-s", type=int, default=0)
    # the fused detector only (this job always waits for the watermark): evaluate every card's
    # events in event-time order once the watermark passes them, not on arrival
    parser.add_argument("--hold-until-watermark", type=flag, default=False)
    # card testing: at least N charges below SMALL, then one of at least LARGE, within WINDOW
    parser.add_argument("--card-testing-enabled", type=flag, default=True)
    parser.add_argument("--card-testing-small", type=float, default=2.00)
    parser.add_argument("--card-testing-min-small", type=int, default=3)
    parser.add_argument("--card-testing-large", type=float, default=200.0)
    parser.add_argument("--card-testing-window-s", type=int, default=120)
    # velocity burst: N charges within WINDOW
    parser.add_argument("--velocity-enabled", type=flag, default=True)
    parser.add_argument("--velocity-count", type=int, default=8)
    parser.add_argument("--velocity-window-s", type=int, default=60)
    # impossible travel: consecutive charges more than MIN_KM apart at more than MAX_KMH
    parser.add_argument("--travel-enabled", type=flag, default=True)
    parser.add_argument("--travel-min-km", type=float, default=1000.0)
    parser.add_argument("--travel-max-kmh", type=float, default=900.0)
    parser.add_argument("--travel-window-s", type=int, default=3600)
    # escalation: 4 consecutive charges, each FACTOR x the last, the last at least MIN_FINAL
    parser.add_argument("--escalation-enabled", type=flag, default=True)
    parser.add_argument("--escalation-factor", type=float, default=2.0)
    parser.add_argument("--escalation-min-final", type=float, default=500.0)
    parser.add_argument("--escalation-window-s", type=int, default=180)
    return parser


def main() -> None:
    args = parser().parse_args()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("pipeline.name", args.job_name)
    config.set("parallelism.default", str(args.parallelism))
    config.set("table.local-time-zone", "UTC")
    config.set("execution.checkpointing.interval", f"{args.checkpoint_interval_s}s")
    config.set("pipeline.auto-watermark-interval", "50ms")
    if args.idle_timeout_s:
        config.set("table.exec.source.idle-timeout", f"{args.idle_timeout_s}s")

    kafka = f"'connector' = 'kafka', 'properties.bootstrap.servers' = '{args.bootstrap_servers}'"
    source = (
        f"{kafka}, 'topic' = '{args.source_topic}', 'properties.auto.offset.reset' = 'earliest',"
        # what an import's aborted Kafka transaction wrote is not a transaction that happened
        " 'properties.isolation.level' = 'read_committed',"
        f" 'scan.startup.mode' = '{args.startup_mode}'"
        + (", 'scan.bounded.mode' = 'latest-offset'" if args.bounded else "")
    )
    group = args.group_id or args.job_name
    # Detection reads typed columns, each record parsed once by the JSON format. Unparseable
    # records are skipped here and caught by the dead-letter branch below.
    columns = ", ".join(f"{name} {kind}" for name, kind in TRANSACTION_COLUMNS.items())
    env.execute_sql(f"""
        CREATE TABLE transactions_json (
            {columns},
            ts AS COALESCE(event_time, TO_TIMESTAMP_LTZ(0, 3)),
            WATERMARK FOR ts AS ts - INTERVAL '{args.watermark_delay_ms / 1000}' SECOND
        ) WITH (
            {source}, 'properties.group.id' = '{group}',
            'format' = 'json', 'json.ignore-parse-errors' = 'true',
            'json.fail-on-missing-field' = 'false', 'json.timestamp-format.standard' = 'ISO-8601'
        )""")
    # The raw bytes, for the dead-letter branch only.
    env.execute_sql(f"""
        CREATE TABLE raw_transactions (payload STRING) WITH (
            {source}, 'properties.group.id' = '{group}-dead-letters', 'format' = 'raw'
        )""")
    env.execute_sql(f"""
        CREATE TABLE fraud_alerts (
            alert_id STRING, card_id STRING, customer_id STRING, `pattern` STRING,
            evidence STRING, first_event_time TIMESTAMP_LTZ(3), event_time TIMESTAMP_LTZ(3),
            detection_time TIMESTAMP_LTZ(3), rule_version BIGINT
        ) WITH (
            {kafka}, 'topic' = '{args.alerts_topic}',
            'key.format' = 'raw', 'key.fields' = 'card_id',
            'value.format' = 'json', 'value.json.timestamp-format.standard' = 'ISO-8601',
            'sink.delivery-guarantee' = 'at-least-once'
        )""")
    env.execute_sql(f"""
        CREATE TABLE dead_letters (payload STRING) WITH (
            {kafka}, 'topic' = '{args.dead_letter_topic}', 'format' = 'raw',
            'sink.delivery-guarantee' = 'at-least-once'
        )""")
    env.execute_sql("""
        CREATE TEMPORARY VIEW transactions AS
        SELECT txn_id, card_id, customer_id, TRY_CAST(amount AS DECIMAL(12, 2)) AS amount,
               country, lat, lon, ts
        FROM transactions_json
        WHERE schema_version = 1 AND txn_id IS NOT NULL AND card_id IS NOT NULL
          AND TRY_CAST(amount AS DECIMAL(12, 2)) > 0 AND lat IS NOT NULL AND lon IS NOT NULL
          AND event_time IS NOT NULL""")
    # the same rules over the raw bytes: whatever detection cannot read is a dead letter
    raw_event_time = EVENT_TIME.format(field="JSON_VALUE(payload, '$.event_time')")
    valid = (
        "payload IS JSON AND COALESCE(JSON_VALUE(payload, '$.schema_version'), '') = '1'"
        " AND JSON_VALUE(payload, '$.txn_id') IS NOT NULL"
        " AND JSON_VALUE(payload, '$.card_id') IS NOT NULL"
        " AND COALESCE(TRY_CAST(JSON_VALUE(payload, '$.amount') AS DECIMAL(12, 2)), 0) > 0"
        " AND TRY_CAST(JSON_VALUE(payload, '$.lat') AS DOUBLE) IS NOT NULL"
        " AND TRY_CAST(JSON_VALUE(payload, '$.lon') AS DOUBLE) IS NOT NULL"
        f" AND {raw_event_time} IS NOT NULL"
    )

    def detect(pattern: str, measures: str, shape: str, within_s: int, define: str) -> str:
        return f"""
            SELECT CONCAT('{pattern}-', card_id, '-', first_txn) AS alert_id, card_id,
                   customer_id, '{pattern}' AS `pattern`, evidence, first_event_time, event_time,
                   CAST(CURRENT_TIMESTAMP AS TIMESTAMP_LTZ(3)) AS detection_time,
                   CAST({args.rule_version} AS BIGINT) AS rule_version
            FROM transactions
            MATCH_RECOGNIZE (
                PARTITION BY card_id ORDER BY ts
                MEASURES {measures}
                ONE ROW PER MATCH
                AFTER MATCH SKIP PAST LAST ROW
                PATTERN ({shape}) WITHIN INTERVAL '{within_s}' SECOND(6)
                DEFINE {define}
            )"""

    card_testing = detect(
        "card_testing",
        "FIRST(S.txn_id) AS first_txn, FIRST(S.customer_id) AS customer_id,"
        " FIRST(S.ts) AS first_event_time, B.ts AS event_time,"
        " CONCAT(CAST(COUNT(S.txn_id) AS STRING), ' charges under "
        f"{args.card_testing_small:.2f} then ', CAST(B.amount AS STRING)) AS evidence",
        f"S{{{args.card_testing_min_small},}} B",
        args.card_testing_window_s,
        f"S AS S.amount < {args.card_testing_small}, B AS B.amount >= {args.card_testing_large}",
    )
    velocity = detect(
        "velocity_burst",
        "FIRST(V.txn_id) AS first_txn, FIRST(V.customer_id) AS customer_id,"
        " FIRST(V.ts) AS first_event_time, LAST(V.ts) AS event_time,"
        f" CONCAT('{args.velocity_count} charges in ',"
        " CAST(TIMESTAMPDIFF(SECOND, FIRST(V.ts), LAST(V.ts)) AS STRING), ' s') AS evidence",
        f"V{{{args.velocity_count}}}",
        args.velocity_window_s,
        "V AS TRUE",
    )
    distance = (
        "6371 * ACOS(LEAST(1.0, SIN(RADIANS(A.lat)) * SIN(RADIANS(B.lat))"
        " + COS(RADIANS(A.lat)) * COS(RADIANS(B.lat)) * COS(RADIANS(B.lon - A.lon))))"
    )
    travel = detect(
        "impossible_travel",
        "A.txn_id AS first_txn, A.customer_id AS customer_id, A.ts AS first_event_time,"
        f" B.ts AS event_time, CONCAT(A.country, ' -> ', B.country, ': ',"
        f" CAST(CAST({distance} AS INT) AS STRING), ' km in ',"
        " CAST(TIMESTAMPDIFF(SECOND, A.ts, B.ts) AS STRING), ' s') AS evidence",
        "A B",
        args.travel_window_s,
        f"B AS {distance} > {args.travel_min_km} AND {distance} * 3600"
        f" / (TIMESTAMPDIFF(SECOND, A.ts, B.ts) + 1) > {args.travel_max_kmh}",
    )
    factor = args.escalation_factor
    escalation = detect(
        "escalation",
        "E1.txn_id AS first_txn, E1.customer_id AS customer_id, E1.ts AS first_event_time,"
        " E4.ts AS event_time, CONCAT(CAST(E1.amount AS STRING), ' -> ',"
        " CAST(E2.amount AS STRING), ' -> ', CAST(E3.amount AS STRING), ' -> ',"
        " CAST(E4.amount AS STRING)) AS evidence",
        "E1 E2 E3 E4",
        args.escalation_window_s,
        f"E2 AS E2.amount >= {factor} * E1.amount, E3 AS E3.amount >= {factor} * E2.amount,"
        f" E4 AS E4.amount >= {factor} * E3.amount AND E4.amount >= {args.escalation_min_final}",
    )

    enabled = [
        query
        for query, on in (
            (card_testing, args.card_testing_enabled),
            (velocity, args.velocity_enabled),
            (travel, args.travel_enabled),
            (escalation, args.escalation_enabled),
        )
        if on
    ]
    statements = env.create_statement_set()
    if enabled:
        statements.add_insert_sql(f"INSERT INTO fraud_alerts {' UNION ALL '.join(enabled)}")
    statements.add_insert_sql(
        f"INSERT INTO dead_letters SELECT payload FROM raw_transactions WHERE NOT ({valid})"
    )
    statements.execute()


if __name__ == "__main__":
    main()
