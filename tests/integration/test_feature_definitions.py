"""The feature definitions themselves, on a local Spark: the merchant-risk features against a
plain-Python computation, no label leakage across the label delay, and the order screen's
features equal to the ETL's for the same card history."""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from activities.orders.screening import CARD_HISTORY
from core.settings import Settings
from domain.pipeline.features import FEATURES, MERCHANT_FEATURES
from domain.pipeline.scoring import CardHistory, order_features
from jobs.spark.features import MERCHANT_WINDOWS_DAYS, with_features, with_merchant_risk

DELAY_DAYS = 7
START = datetime(2026, 3, 2, tzinfo=UTC)
# the card's features: cep_alerts_24h comes from the database (tested with the ETL), and an
# order's merchant (the shop) has no history in the card stream
CARD_FEATURES = [n for n in FEATURES if n != "cep_alerts_24h" and n not in MERCHANT_FEATURES]


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # the JVM this starts listens on loopback only
    session = (
        SparkSession.builder.master("local[1]")
        .appName("feature-definitions")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def transactions(seed: int = 3, days: int = 60) -> list[dict]:
    """A few cards buying at three merchants over two months; one merchant turns bad."""
    rng = random.Random(seed)
    rows = []
    for i in range(days * 12):
        ts = START + timedelta(days=i / 12, seconds=rng.randrange(3000))
        merchant = rng.choice(["m-good", "m-busy", "m-bad"])
        fraud = merchant == "m-bad" and ts > START + timedelta(days=20) and rng.random() < 0.6
        rows.append(
            {
                "txn_id": f"t{i:04d}",
                "card_id": f"c{rng.randrange(6)}",
                "customer_id": "cust",
                "merchant_id": merchant,
                "country": "FR",
                "amount": float(rng.randrange(5, 300)),
                "ts": ts,
                "is_fraud": int(fraud),
            }
        )
    return rows


def spark_features(spark: SparkSession, rows: list[dict]) -> dict[str, dict]:
    frame: DataFrame = spark.createDataFrame(rows).withColumn(
        "fraud_pattern", F.when(F.col("is_fraud") == 1, F.lit("merchant")).otherwise(None)
    )
    computed = with_merchant_risk(with_features(frame), DELAY_DAYS)
    return {row["txn_id"]: row.asDict() for row in computed.collect()}


def expected_merchant_features(rows: list[dict]) -> dict[str, dict]:
    """The definition, directly: for a transaction on UTC day d, the merchant's transactions on
    days d-delay-W to d-delay-1, and the share of them labelled fraud."""
    by_merchant_day: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row in rows:
        by_merchant_day[(row["merchant_id"], row["ts"].toordinal())].append(row["is_fraud"])
    expected = {}
    for row in rows:
        day = row["ts"].toordinal()
        values: dict[str, float] = {}
        for width in MERCHANT_WINDOWS_DAYS:
            labels = [
                label
                for d in range(day - DELAY_DAYS - width, day - DELAY_DAYS)
                for label in by_merchant_day.get((row["merchant_id"], d), [])
            ]
            values[f"merchant_txn_count_{width}d"] = len(labels)
            values[f"merchant_risk_{width}d"] = sum(labels) / len(labels) if labels else 0.0
        expected[row["txn_id"]] = values
    return expected


def test_the_merchant_risk_features_follow_their_definition(spark: SparkSession) -> None:
    rows = transactions()
    actual, expected = spark_features(spark, rows), expected_merchant_features(rows)
    assert set(actual) == set(expected)
    for txn_id, values in expected.items():
        for name, value in values.items():
            assert actual[txn_id][name] == pytest.approx(value), (txn_id, name)
    # the bad merchant's risk is seen (after the delay), the good one's stays 0
    late = [r for r in rows if r["ts"] > START + timedelta(days=40)]
    assert max(actual[r["txn_id"]]["merchant_risk_7d"] for r in late) > 0.3
    assert all(
        actual[r["txn_id"]]["merchant_risk_30d"] == 0 for r in rows if r["merchant_id"] == "m-good"
    )


def test_no_feature_depends_on_a_label_younger_than_the_delay(spark: SparkSession) -> None:
    """Every label known after `probe - delay` is flipped: no feature of any transaction at or
    before the probe changes. Flipping the labels just older than that does change them, so
    the check has the power to see a leak."""
    rows = transactions()
    probe = START + timedelta(days=45)
    cut = probe - timedelta(days=DELAY_DAYS)
    before = spark_features(spark, rows)

    def flipped(since: datetime, until: datetime) -> list[dict]:
        return [
            r | {"is_fraud": 1 - r["is_fraud"]} if since <= r["ts"] < until else r for r in rows
        ]

    after = spark_features(spark, flipped(cut, datetime.max.replace(tzinfo=UTC)))
    seen = [r["txn_id"] for r in rows if r["ts"] <= probe]
    assert len(seen) > 400
    for txn_id in seen:
        assert {k: after[txn_id][k] for k in FEATURES if k in after[txn_id]} == {
            k: before[txn_id][k] for k in FEATURES if k in before[txn_id]
        }, txn_id

    # the day just before the probe's day minus the delay is that of the last seen ones
    leaked = spark_features(spark, flipped(cut - timedelta(days=3), cut - timedelta(days=1)))
    assert any(
        leaked[txn_id][name] != before[txn_id][name]
        for txn_id in seen
        for name in MERCHANT_FEATURES
    )


def test_the_order_screen_computes_the_etls_features_for_the_same_history(
    spark: SparkSession, stack: object, base_settings: Settings
) -> None:
    """One card's orders in PostgreSQL, read by the screen's query, and the same purchases as
    card transactions at the shop through the ETL's definitions: the same features for the
    last one."""
    card, now = f"card-parity-{uuid.uuid4().hex[:8]}", datetime(2026, 6, 6, 23, 30, tzinfo=UTC)
    ages = [timedelta(minutes=m) for m in (3, 40, 300, 2000, 5000, 12000, 30000)]
    purchases = [(now - age, 12.5 * (i + 1), "DE" if i % 2 else "FR") for i, age in enumerate(ages)]
    with psycopg.connect(base_settings.postgres_dsn) as conn:
        for i, (at, total, country) in enumerate(purchases):
            conn.execute(
                "insert into orders (order_id, customer_id, card_id, currency, total,"
                " client_country, ship_country, created_at)"
                " values (%s, 'cust-parity', %s, 'EUR', %s, %s, %s, %s)",
                (f"{card}-{i}", card, total, country, country, at),
            )
        history = (
            conn.cursor(row_factory=psycopg.rows.class_row(CardHistory))
            .execute(CARD_HISTORY, {"now": now, "card": card, "order": "new"})
            .fetchone()
        )
    assert history is not None
    screened = order_features(77.0, "IT", now, history).iloc[0].to_dict()

    rows = [
        {
            "txn_id": f"p{i}",
            "card_id": card,
            "customer_id": "c",
            "merchant_id": "shop",
            "country": country,
            "amount": total,
            "ts": at,
            "is_fraud": 0,
        }
        for i, (at, total, country) in enumerate([*purchases, (now, 77.0, "IT")])
    ]
    etl = spark_features(spark, rows)["p7"]
    assert {name: screened[name] for name in CARD_FEATURES} == pytest.approx(
        {name: etl[name] for name in CARD_FEATURES}
    )
    assert {name: screened[name] for name in MERCHANT_FEATURES} == dict.fromkeys(
        MERCHANT_FEATURES, 0
    )
    assert (screened["is_weekend"], screened["hour_of_day"]) == (1, 23)  # a Saturday night
