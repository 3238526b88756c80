"""The Spark feature ETL on the real stack: Kafka offsets planned in PostgreSQL, spark-submit,
Parquet in the lake. The features are checked against an independent computation in plain
Python over the same records."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic
from temporalio.testing import ActivityEnvironment

from activities.pipeline.feature_etl import FeatureEtlActivities
from core.db.connections import open_pool
from core.errors import InvalidInput
from core.kafka import admin, create_topic, read_to_end
from core.settings import Settings
from core.toolchain import resolved_stamp
from domain.fraud.events import Transaction
from domain.fraud.generator import produce
from domain.pipeline.etl import (
    EtlJobFailed,
    EtlRunUnfinished,
    end_unfinished_run,
    plan_run,
    run_features_job,
)
from tests.support.kafka import produce as produce_raw
from tests.support.worker import LoopWatchdog

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="module")
def etl_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return base_settings.model_copy(
        update={
            "transactions_topic": create_topic(base_settings, "etl-tx", partitions=2),
            "lake_dir": tmp_path_factory.mktemp("lake"),
        }
    )


def send(settings: Settings, seed: int, start: datetime) -> None:
    produce(
        settings,
        settings.transactions_topic,
        run_id=f"etl{uuid.uuid4().hex[:5]}",
        seed=seed,
        rate=40,
        duration_s=45,
        fraud_share=0.05,
        malformed_share=0.01,
        realtime=False,
        start=start,
    )


def read_features(output: str) -> dict[str, dict]:
    rows = pq.read_table(output).to_pylist()
    return {row["txn_id"]: row for row in rows}


def valid_transactions(settings: Settings) -> list[dict]:
    """Every record on the topic that the ETL must keep, parsed in plain Python."""
    transactions = []
    for _, value in read_to_end(settings, settings.transactions_topic):
        try:
            txn = json.loads(value)
            ts = datetime.strptime(txn["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            valid = txn["schema_version"] == 1 and txn["txn_id"] and txn["card_id"]
            if not valid or float(txn["amount"]) <= 0:
                continue
        except (ValueError, KeyError, TypeError):
            continue  # malformed: the ETL skips it too
        transactions.append(txn | {"ts": ts, "amount": float(txn["amount"])})
    return transactions


def expected_features(settings: Settings) -> dict[str, dict]:
    """The same features, computed directly from every valid record on the topic."""
    by_card: dict[str, list[dict]] = defaultdict(list)
    for txn in valid_transactions(settings):
        by_card[txn["card_id"]].append(txn)
    with psycopg.connect(settings.postgres_dsn) as conn:
        labels = {
            txn_id: pattern
            for pattern, txn_ids in conn.execute("select pattern, txn_ids from fraud_labels")
            for txn_id in txn_ids
        }
        alerts = defaultdict(list)
        for card, at in conn.execute("select card_id, event_time from fraud_alerts"):
            alerts[card].append(at)
    expected = {}
    for card, txns in by_card.items():
        txns.sort(key=lambda t: (t["ts"], t["txn_id"]))
        seconds = [int(t["ts"].timestamp()) for t in txns]
        for i, txn in enumerate(txns):
            # a window ends with the last transaction in the same second (its peers)
            end = bisect_right(seconds, seconds[i])
            day, hour, five = (
                txns[bisect_left(seconds, seconds[i] - span) : end] for span in (86400, 3600, 300)
            )
            expected[txn["txn_id"]] = {
                "txn_count_5m": len(five),
                "txn_count_1h": len(hour),
                "txn_count_24h": len(day),
                "amount_sum_1h": sum(t["amount"] for t in hour),
                "amount_max_24h": max(t["amount"] for t in day),
                "distinct_countries_24h": len({t["country"] for t in day}),
                "seconds_since_prev": (
                    (txn["ts"] - txns[i - 1]["ts"]).total_seconds() if i else -1.0
                ),
                "cep_alerts_24h": sum(
                    1 for at in alerts[card] if txn["ts"] - timedelta(hours=24) < at <= txn["ts"]
                ),
                "is_fraud": int(txn["txn_id"] in labels),
                "fraud_pattern": labels.get(txn["txn_id"]),
            }
    return expected


def assert_matches(actual: dict[str, dict], expected: dict[str, dict]) -> None:
    for txn_id, row in actual.items():
        for name, value in expected[txn_id].items():
            if isinstance(value, float):
                assert row[name] == pytest.approx(value, abs=1e-6), (txn_id, name)
            else:
                assert row[name] == value, (txn_id, name, row[name], value)


def test_runs_cover_disjoint_ranges_and_compute_the_features(etl_settings: Settings) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    send(etl_settings, seed=41, start=start)
    with psycopg.connect(etl_settings.postgres_dsn) as conn:
        # a CEP alert on a card of the stream, for the alert-count feature
        txn = valid_transactions(etl_settings)[0]
        conn.execute(
            "insert into fraud_alerts (alert_id, card_id, pattern, event_time)"
            " values (%s, %s, 'velocity_burst', %s)",
            (f"etl-test-{uuid.uuid4().hex[:6]}", txn["card_id"], txn["ts"]),
        )
    topic = etl_settings.transactions_topic
    first_id, second_id = f"etl-{uuid.uuid4().hex[:6]}", f"etl-{uuid.uuid4().hex[:6]}"

    first_plan = plan_run(etl_settings, topic, first_id)
    assert [r.start_offset for r in first_plan.ranges] == [0, 0]
    first = run_features_job(etl_settings, first_plan)
    first_rows = read_features(first.output)
    assert first.rows == len(first_rows) > 1000

    # more traffic, a second run: it starts where the first ended and looks back into it
    send(etl_settings, seed=42, start=start + timedelta(minutes=10))
    # and three charges on a card of the first run, whose windows reach back into it
    returning = max(first_rows.values(), key=lambda row: row["ts"])
    later = [
        Transaction(
            txn_id=f"etl-late-{uuid.uuid4().hex[:8]}",
            card_id=returning["card_id"],
            customer_id=returning["customer_id"],
            merchant_id=returning["merchant_id"],
            merchant_category="grocery",
            amount=Decimal("12.50"),
            currency="EUR",
            country=returning["country"],
            lat=52.5,
            lon=13.4,
            channel="pos",
            event_time=returning["ts"] + timedelta(minutes=2 + i),
        )
        for i in range(3)
    ]
    produce_raw(
        etl_settings,
        topic,
        [(txn.card_id, txn.model_dump_json()) for txn in later],
    )
    second_plan = plan_run(etl_settings, topic, second_id)
    assert [r.start_offset for r in second_plan.ranges] == [r.end_offset for r in first_plan.ranges]
    assert second_plan.history_runs == [first_id]
    with pytest.raises(EtlRunUnfinished, match=second_id):
        plan_run(etl_settings, topic, f"etl-{uuid.uuid4().hex[:6]}")
    second = run_features_job(etl_settings, second_plan)
    second_rows = read_features(second.output)
    assert second.rows == len(second_rows) > 1000
    assert not set(first_rows) & set(second_rows), "a record was processed by two runs"

    expected = expected_features(etl_settings)
    assert set(first_rows) | set(second_rows) == set(expected)
    assert_matches(first_rows | second_rows, expected)
    assert any(row["cep_alerts_24h"] for row in first_rows.values())
    assert {row["fraud_pattern"] for row in first_rows.values()} > {None}
    # the second run's windows include the first run's transactions of the same card
    card = returning["card_id"]
    earlier_on_card = sum(1 for row in first_rows.values() if row["card_id"] == card)
    late_rows = [second_rows[txn.txn_id] for txn in later]
    assert [row["txn_count_24h"] for row in late_rows] == [earlier_on_card + i for i in (1, 2, 3)]
    assert late_rows[0]["seconds_since_prev"] >= 120

    # asking for a run again attaches to its finished application ...
    assert run_features_job(etl_settings, plan_run(etl_settings, topic, first_id)) == first
    # ... and running the Spark job again for a committed run changes nothing
    shutil.rmtree(etl_settings.spark_apps_dir / f"features-{first_id}")
    again = run_features_job(etl_settings, plan_run(etl_settings, topic, first_id))
    assert again.already_committed
    assert again.rows == first.rows
    assert read_features(again.output) == first_rows


def test_a_failed_run_leaves_nothing_and_can_be_rerun(etl_settings: Settings) -> None:
    send(etl_settings, seed=43, start=datetime(2026, 1, 5, 11, 0, tzinfo=UTC))
    run_id = f"etl-{uuid.uuid4().hex[:6]}"
    plan = plan_run(etl_settings, etl_settings.transactions_topic, run_id)
    broken = etl_settings.model_copy(
        update={"postgres_dsn": etl_settings.postgres_dsn.replace(":hybrid@", ":wrong@")}
    )
    with pytest.raises(EtlJobFailed, match=run_id):
        run_features_job(broken, plan)
    features = Path(etl_settings.lake_dir) / "features"
    assert not (features / f"run_id={run_id}").exists()
    assert plan_run(etl_settings, etl_settings.transactions_topic, run_id) == plan
    result = run_features_job(etl_settings, plan)
    assert result.rows == len(read_features(result.output)) > 1000


async def test_the_etl_activity_resolves_its_jars_off_the_event_loop(
    base_settings: Settings, tmp_path: Path
) -> None:
    """On a stack directory whose Spark jars are not resolved yet (a fresh clone), the first ETL
    activity runs Maven: in a thread, not on the worker's event loop (it used to block the loop
    for the whole resolution, and the activity missed its heartbeats)."""
    fresh = base_settings.model_copy(
        update={
            "stack_dir": tmp_path / "stack",
            "spark_apps_dir": tmp_path / "spark-apps",
            "lake_dir": tmp_path / "lake",
            "transactions_topic": create_topic(base_settings, "etl-fresh", partitions=1),
        }
    )
    plan = plan_run(fresh, fresh.transactions_topic, f"etl-fresh-{uuid.uuid4().hex[:6]}")
    watchdog = LoopWatchdog()
    watchdog.watch(asyncio.get_running_loop(), threading.get_ident())
    pool = await open_pool(fresh, max_size=2)
    try:
        result = await ActivityEnvironment().run(
            FeatureEtlActivities(fresh, pool).run_etl_job, plan
        )
    finally:
        watchdog.stop()
        await pool.close()
    assert resolved_stamp(fresh, "spark").exists()  # Maven really ran
    assert (result.run_id, result.rows) == (plan.run_id, 0)
    assert watchdog.take() == []


def etl_status(settings: Settings, run_id: str) -> tuple[str, str | None]:
    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute("select status, failure from etl_runs where run_id = %s", (run_id,))
        return row.fetchone()  # type: ignore[return-value]


def hybrid(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=120
    )


def test_a_run_that_failed_for_good_or_was_abandoned_no_longer_blocks_its_topic(
    base_settings: Settings,
) -> None:
    """A run left PLANNED by a failure no retry fixes was adopted by every later ETL of its
    topic, and failed them all the same way, with no documented way out."""
    topic = create_topic(base_settings, "etl-poisoned", partitions=1)
    produce_raw(base_settings, topic, [(f"k{i}", "{}") for i in range(5)])
    doomed, fresh, later = (f"etl-{name}-{uuid.uuid4().hex[:6]}" for name in "abc")
    planned = plan_run(base_settings, topic, doomed)

    assert end_unfinished_run(base_settings, doomed, "FAILED", "File name too long")
    assert etl_status(base_settings, doomed) == ("FAILED", "File name too long")
    # the next run plans afresh, over the records the failed one did not read
    assert plan_run(base_settings, topic, fresh).ranges == planned.ranges
    with pytest.raises(InvalidInput, match="is FAILED"):  # rerunning it would read them twice
        plan_run(base_settings, topic, doomed)

    with pytest.raises(EtlRunUnfinished, match=fresh):  # an unfinished run still blocks ...
        plan_run(base_settings, topic, later)
    abandoned = hybrid("etl", "abandon", fresh)  # ... until an operator gives it up
    assert abandoned.returncode == 0, abandoned.stdout + abandoned.stderr
    assert f"abandoned ETL run {fresh}" in abandoned.stdout
    assert etl_status(base_settings, fresh)[0] == "ABANDONED"
    assert plan_run(base_settings, topic, later).ranges == planned.ranges

    again = hybrid("etl", "abandon", fresh)
    assert again.returncode == 1
    assert f"ETL run {fresh} is ABANDONED, not PLANNED" in again.stdout + again.stderr


def test_a_topic_recreated_after_its_runs_is_refused_with_the_reason(
    base_settings: Settings,
) -> None:
    """A CI clone at a path an earlier clone used kept that clone's database (its etl_runs)
    beside a new Kafka: the plan started past the topic's end and PostgreSQL's check
    constraint was all the user saw."""
    topic = create_topic(base_settings, "etl-recreated", partitions=1)
    produce_raw(base_settings, topic, [(f"k{i}", "{}") for i in range(5)])
    earlier = plan_run(base_settings, topic, f"etl-earlier-{uuid.uuid4().hex[:6]}")
    with psycopg.connect(base_settings.postgres_dsn) as conn:
        conn.execute(
            "update etl_runs set status = 'SUCCEEDED' where run_id = %s", (earlier.run_id,)
        )
    client = admin(base_settings)
    client.delete_topics([topic])[topic].result(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the deletion completes in the background
        try:
            client.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
            break
        except KafkaException:
            time.sleep(0.5)
    produce_raw(base_settings, topic, [("k", "{}")])

    with pytest.raises(InvalidInput, match=r"partition: read to / ends at 0: 5 / 1\): it was rec"):
        plan_run(base_settings, topic, f"etl-later-{uuid.uuid4().hex[:6]}")
