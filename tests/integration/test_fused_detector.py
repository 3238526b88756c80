"""The fused detector against its specification, the MATCH_RECOGNIZE job: the same streams through
both (bounded jobs over one topic), and the same alerts (card, pattern, first and last event of
the match) and the same dead letters come out. Any difference is a bug in one of them.

(a) A seeded stream over 4 partitions: each card's events in order, partitions interleaved.
(c) Events behind the watermark, on one partition (so that what is late does not depend on the
order in which a job reads partitions): both drop them.
(d) Malformed events: both send the same records to the dead letters.
Edge cases of every window (a match whose last event falls exactly on WITHIN, or 1 ms inside)
pin down the semantics the fused detector claims.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from activities.fraud.flink_jobs import submit_cep_job
from core.engines.flink import FlinkRest
from core.kafka import create_topic, read_to_end
from core.settings import Settings
from domain.fraud.events import Transaction
from domain.fraud.generator import produce as produce_stream
from domain.fraud.monitor import CepJobSpec
from tests.support.kafka import produce
from tests.support.waiting import wait_for
from tools.bench.stream import alert_keys

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
KINDS = ("cep", "fused")


def charge(
    card: str,
    n: int,
    at: datetime,
    amount: str,
    country: str = "DE",
    lat: float = 52.5,
    lon: float = 13.4,
) -> Transaction:
    return Transaction(
        txn_id=f"{card}-{n}",
        card_id=card,
        customer_id=f"cust-{card}",
        merchant_id="m-1",
        merchant_category="5411",
        amount=Decimal(amount),
        currency="EUR",
        country=country,
        lat=lat,
        lon=lon,
        channel="pos",
        event_time=at,
    )


def edge_cases(run: str) -> list[Transaction]:
    """For each pattern, one card whose match ends exactly WITHIN after its first event (no
    match: the partial match has expired) and one where it ends 1 ms earlier (a match)."""
    events: list[Transaction] = []
    for case, gap in (("at", timedelta(0)), ("inside", timedelta(milliseconds=1))):
        card = f"edge-{run}-ct-{case}"
        events += [charge(card, i, START + timedelta(seconds=i), "1.00") for i in range(3)]
        events.append(charge(card, 3, START + timedelta(seconds=120) - gap, "250.00"))
        card = f"edge-{run}-vel-{case}"
        events += [charge(card, i, START + timedelta(seconds=i), "20.00") for i in range(7)]
        events.append(charge(card, 7, START + timedelta(seconds=60) - gap, "20.00"))
        card = f"edge-{run}-esc-{case}"
        events += [
            charge(card, i, START + timedelta(seconds=i), amount)
            for i, amount in enumerate(("70.00", "140.00", "280.00"))
        ]
        events.append(charge(card, 3, START + timedelta(seconds=180) - gap, "560.00"))
        card = f"edge-{run}-travel-{case}"
        events.append(charge(card, 0, START, "30.00"))
        events.append(
            charge(card, 1, START + timedelta(seconds=3600) - gap, "30.00", "US", 40.7, -74.0)
        )
    return events


def late_events(run: str, now: datetime) -> list[Transaction]:
    """A velocity burst 30 s behind the stream's time on a card of its own: behind the
    watermark, so neither job may see it."""
    card = f"late-{run}"
    return [
        charge(card, i, now - timedelta(seconds=30) + timedelta(seconds=i), "9.00")
        for i in range(10)
    ]


def finished(rest: FlinkRest, job_id: str) -> bool:
    return rest.job(job_id)["state"] == "FINISHED"


def run_both(settings: Settings, source: str) -> dict[str, tuple[set, Counter[str]]]:
    """Each detector over the whole topic as a bounded job, both at once (the TaskManager has
    the slots, and each submission spends seconds planning in its client): their alerts and
    dead letters."""
    rest = FlinkRest(settings)
    with ThreadPoolExecutor(2) as pool:
        jobs = dict(
            zip(KINDS, pool.map(partial(start_job, settings, source, True), KINDS), strict=True)
        )
    found = {}
    for kind, (job, spec) in jobs.items():
        wait_for(partial(finished, rest, job), 300, f"the {kind} job to finish")
        dead = Counter(value for _, value in read_to_end(settings, spec.dead_letter_topic))
        found[kind] = (alert_keys(settings, spec.alerts_topic), dead)
    return found


def test_a_seeded_stream_over_four_partitions_gives_the_same_alerts_and_dead_letters(
    stack, base_settings: Settings
) -> None:
    source = create_topic(base_settings, "diff-tx", 4)
    stats = produce_stream(
        base_settings,
        source,
        run_id=f"d{uuid.uuid4().hex[:5]}",
        seed=11,
        rate=1000,
        duration_s=20,
        fraud_share=0.02,
        malformed_share=0.01,
        realtime=False,
    )
    found = run_both(base_settings, source)
    cep_alerts, cep_dead = found["cep"]
    fused_alerts, fused_dead = found["fused"]
    assert len(cep_alerts) >= len(stats.labels) > 20
    assert {pattern for _, pattern, _, _ in cep_alerts} == {
        "card_testing",
        "velocity_burst",
        "impossible_travel",
        "escalation",
    }
    assert sorted(fused_alerts - cep_alerts) == []
    assert sorted(cep_alerts - fused_alerts) == []
    assert sum(cep_dead.values()) == stats.malformed > 0
    assert fused_dead == cep_dead


def test_window_edges_and_late_events_on_one_partition(stack, base_settings: Settings) -> None:
    """Both jobs run unbounded here: a watermark moves on a timer (every 50 ms), so events are
    behind it for sure only once the job has read what came before them and a moment passed."""
    run = uuid.uuid4().hex[:5]
    source = create_topic(base_settings, "diff-edges", 1)
    # ordinary traffic on another card (10 s apart: no pattern) moves the watermark well past
    # the edge cases
    clock = [
        charge(f"clock-{run}", i, START + timedelta(seconds=10 * i), "12.00") for i in range(520)
    ]
    first = sorted(edge_cases(run) + clock[:500], key=lambda t: t.event_time)
    produce(base_settings, source, [(t.card_id, t.model_dump_json()) for t in first])
    rest = FlinkRest(base_settings)
    with ThreadPoolExecutor(2) as pool:
        jobs = dict(
            zip(
                KINDS,
                pool.map(partial(start_job, base_settings, source, False), KINDS),
                strict=True,
            )
        )
    expected = {
        (f"edge-{run}-ct-inside", "card_testing"),
        (f"edge-{run}-vel-inside", "velocity_burst"),
        (f"edge-{run}-esc-inside", "escalation"),
        (f"edge-{run}-travel-inside", "impossible_travel"),
    }
    try:
        for _, spec in jobs.values():
            wait_for(partial(alerts_on, base_settings, spec.alerts_topic), 120, "edge case alerts")
        time.sleep(1)  # the watermark (every 50 ms) passes the last clock event but 300 ms
        # a burst 30 s behind the watermark, then more traffic that would let the SQL job fire it
        later = late_events(run, clock[499].event_time) + clock[500:]
        produce(base_settings, source, [(t.card_id, t.model_dump_json()) for t in later])
        time.sleep(2)
        found = {}
        for kind, (job, spec) in jobs.items():
            rest.stop_with_savepoint(job)  # flushes the alerts sink
            wait_for(partial(finished, rest, job), 120, f"the {kind} job to stop")
            found[kind] = alert_keys(base_settings, spec.alerts_topic)
    finally:
        for job, _ in jobs.values():
            if rest.job(job)["state"] == "RUNNING":
                rest.cancel(job)
    assert {(card, pattern) for card, pattern, _, _ in found["cep"]} == expected
    assert found["fused"] == found["cep"]


def alerts_on(settings: Settings, topic: str) -> bool:
    return len(alert_keys(settings, topic)) >= 4


def start_job(settings: Settings, source: str, bounded: bool, kind: str) -> tuple[str, CepJobSpec]:
    spec = CepJobSpec(
        job_name=f"diff-{kind}-{source}",
        source_topic=source,
        alerts_topic=create_topic(settings, f"diff-alerts-{kind}"),
        dead_letter_topic=create_topic(settings, f"diff-dlq-{kind}"),
        startup_mode="earliest-offset",
        bounded=bounded,
        engine="sql" if kind == "cep" else "fused",
    )
    return submit_cep_job(settings, spec), spec
