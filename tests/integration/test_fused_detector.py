"""The fused detector against its specification, the MATCH_RECOGNIZE job: the same streams through
both (bounded jobs over one topic), and the same alerts (card, pattern, first and last event of
the match) and the same dead letters come out. Any difference is a bug in one of them.

(a) A seeded stream over 4 partitions: each card's events in order, partitions interleaved.
(b) Events of a card out of order within the watermark delay: the fused job holding its cards
for the watermark gives the specification's answer.
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


def out_of_order_cases(run: str) -> list[Transaction]:
    """For each pattern, a match whose events come out of order within the watermark delay
    (300 ms): one arrives 100 ms of event time behind the one after it. Sorted by event time,
    each is a match. The cases follow each other in event time (100 s apart), in arrival
    order, so that no event is behind the watermark another card moved."""
    shift = timedelta(milliseconds=100)

    def at(case: int, seconds: float) -> datetime:
        return START + timedelta(seconds=100 * case + seconds)

    card = f"ooo-{run}-ct"
    large = charge(card, 3, at(0, 10), "250.00")
    events = [
        charge(card, 0, at(0, 0), "1.00"),
        charge(card, 1, at(0, 1), "1.00"),
        large,
        charge(card, 2, large.event_time - shift, "1.00"),
    ]
    card = f"ooo-{run}-vel"
    burst = [charge(card, i, at(1, i), "20.00") for i in range(8)]
    burst[3] = charge(card, 3, burst[4].event_time - shift, "20.00")
    events += [*burst[:3], burst[4], burst[3], *burst[5:]]
    card = f"ooo-{run}-esc"
    steps = [
        charge(card, i, at(2, i), amount)
        for i, amount in enumerate(("70.00", "140.00", "280.00", "560.00"))
    ]
    steps[2] = charge(card, 2, steps[3].event_time - shift, "280.00")
    events += [steps[0], steps[1], steps[3], steps[2]]
    card = f"ooo-{run}-travel"
    here = charge(card, 0, at(3, 0), "30.00")
    there = charge(card, 1, here.event_time + shift, "30.00", "US", 40.7, -74.0)
    return [*events, there, here]


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


def start_both(
    settings: Settings, source: str, bounded: bool, hold: bool = False
) -> dict[str, tuple[str, CepJobSpec]]:
    """Both detectors over the topic, submitted at once (the TaskManager has the slots, and
    each submission spends seconds planning in its client): each one's job id and spec."""
    with ThreadPoolExecutor(2) as pool:
        started = pool.map(partial(start_job, settings, source, bounded, hold=hold), KINDS)
        return dict(zip(KINDS, started, strict=True))


def run_both(
    settings: Settings, source: str, hold: bool = False
) -> dict[str, tuple[set, Counter[str]]]:
    """Each detector over the whole topic as a bounded job, both at once: their alerts and dead
    letters."""
    rest = FlinkRest(settings)
    jobs = start_both(settings, source, bounded=True, hold=hold)
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


def test_events_out_of_order_within_the_bound_give_the_same_alerts(
    stack, base_settings: Settings
) -> None:
    """(b): on one partition, in the order written; the fused job holding every card for the
    watermark (hold_until_watermark) gives the specification's answer."""
    run = uuid.uuid4().hex[:5]
    source = create_topic(base_settings, "diff-ooo", 1)
    arrival = out_of_order_cases(run)
    produce(base_settings, source, [(t.card_id, t.model_dump_json()) for t in arrival])
    found = {kind: alerts for kind, (alerts, _) in run_both(base_settings, source, True).items()}
    assert {(card, pattern) for card, pattern, _, _ in found["cep"]} == {
        (f"ooo-{run}-ct", "card_testing"),
        (f"ooo-{run}-vel", "velocity_burst"),
        (f"ooo-{run}-esc", "escalation"),
        (f"ooo-{run}-travel", "impossible_travel"),
    }
    assert found["fused"] == found["cep"]


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
    jobs = start_both(base_settings, source, bounded=False)
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


def start_job(
    settings: Settings, source: str, bounded: bool, kind: str, hold: bool = False
) -> tuple[str, CepJobSpec]:
    spec = CepJobSpec(
        hold_until_watermark=hold,
        job_name=f"diff-{kind}-{source}",
        source_topic=source,
        alerts_topic=create_topic(settings, f"diff-alerts-{kind}"),
        dead_letter_topic=create_topic(settings, f"diff-dlq-{kind}"),
        startup_mode="earliest-offset",
        bounded=bounded,
        engine="sql" if kind == "cep" else "fused",
    )
    return submit_cep_job(settings, spec), spec


def checkpointed_state(rest: FlinkRest, job_id: str, after_ms: float) -> int:
    """The state size of the job's first checkpoint completed after `after_ms` (epoch ms): the
    heap state backend snapshots every card's state in full."""
    for _ in range(120):
        latest = rest.checkpoints(job_id)["latest"]["completed"]
        if latest and latest["latest_ack_timestamp"] > after_ms:
            return int(latest["state_size"])
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint of job {job_id} completed within a minute")


def test_the_state_of_idle_cards_is_removed(stack, base_settings: Settings) -> None:
    """20,000 cards charge once; once the event-time clock is past the widest window (an hour,
    impossible travel's) after their charge, their state has gone: the heap holds active cards,
    not every card ever seen."""
    run = uuid.uuid4().hex[:5]
    source = create_topic(base_settings, "fused-idle", 1)
    cards = [
        charge(f"idle-{run}-{i}", 0, START + timedelta(milliseconds=i), "12.00")
        for i in range(20_000)
    ]
    produce(base_settings, source, [(t.card_id, t.model_dump_json()) for t in cards])
    spec = CepJobSpec(
        job_name=f"fused-idle-{run}",
        source_topic=source,
        alerts_topic=create_topic(base_settings, "fused-idle-alerts"),
        dead_letter_topic=create_topic(base_settings, "fused-idle-dlq"),
        startup_mode="earliest-offset",
        checkpoint_interval_s=2,
    )
    rest = FlinkRest(base_settings)
    job = submit_cep_job(base_settings, spec)
    try:
        wait_for(partial(running, rest, job), 120, "the fused job to run")
        time.sleep(5)  # it reads the 20,000 charges
        busy = checkpointed_state(rest, job, time.time() * 1000 + 2000)
        later = START + timedelta(hours=2)
        produce(
            base_settings,
            source,
            [(f"clock-{run}", charge(f"clock-{run}", 0, later, "5.00").model_dump_json())],
        )
        # the watermark passes the idle cards' widest window; the sweep (every 5 s,
        # FusedDetection.SWEEPS_PER_SECOND) forgets them
        time.sleep(8)
        idle = checkpointed_state(rest, job, time.time() * 1000 + 2000)
    finally:
        rest.cancel(job)
    print(f"checkpointed state: {busy:,} bytes with 20,000 active cards, {idle:,} after expiry")
    assert idle < busy / 20


def running(rest: FlinkRest, job_id: str) -> bool:
    job = rest.job(job_id)
    return job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])
