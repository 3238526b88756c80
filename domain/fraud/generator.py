"""A seeded stream of realistic card transactions with injected, labelled fraud.

Legitimate traffic: customers with a home country, a few habitual merchants near home and a
log-normal spend. Fraud is injected on compromised cards in named scenarios (see FraudPattern);
each scenario's ground truth goes to the `fraud_labels` table, which the detector never reads.
Customers share their country's merchants, and a merchant may be breached for days
(domain/fraud/merchant_breaches.py): its charges meanwhile are labelled `merchant_compromise`,
which no per-card pattern shows. A small share of messages is malformed, to exercise the
dead-letter path.

Events leave in event-time order. `realtime=True` paces them on the wall clock (event time =
time of sending, for latency measurements); otherwise they go as fast as the producer can take
them, with a synthetic clock advancing 1/rate per event. A stream may begin with days of
history before its start (its traffic, card scenarios and merchant breaches), sent as fast as
it goes, so that the features over days (and the merchants' fraud share, known a label delay
late) have a past to look at.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.db.connections import connect
from core.kafka import producer, send_record
from core.settings import Settings
from domain.fraud.events import FraudLabel, FraudPattern, MerchantScenario, Transaction
from domain.fraud.merchant_breaches import Merchant, MerchantBreaches, merchant_pool
from domain.fraud.places import COUNTRIES, distance_km


@dataclass
class Customer:
    customer_id: str
    card_id: str
    home: str
    merchants: list[Merchant]
    median_amount: float


@dataclass(order=True)
class Pending:
    event_time: datetime
    sequence: int
    transaction: Transaction = field(compare=False)


@dataclass
class StreamStats:
    events: int = 0
    malformed: int = 0
    live_start: datetime | None = None  # the event time the live part began at
    scenarios: dict[FraudPattern, int] = field(default_factory=dict)
    labels: list[FraudLabel] = field(default_factory=list)  # of the card patterns
    merchant_breaches: int = 0
    breached_charges: int = 0  # each labelled merchant_compromise
    seconds: float = 0.0


@dataclass(frozen=True)
class StreamProgress:
    """Where a stream stands, reported every few seconds while it is sent."""

    events: int
    event_time: datetime
    scenarios_complete: int  # every event of the scenario sent
    scenarios_open: int  # started, with events still to come


class TransactionStream:
    def __init__(
        self,
        run_id: str,
        seed: int,
        rate: float,
        fraud_share: float,
        malformed_share: float,
        start: datetime,
        breaches_per_day: float = 0.5,
        breach_days: float = 14,
    ):
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.rate = rate
        self.fraud_share = fraud_share
        self.malformed_share = malformed_share
        self.start = start
        self.sequence = 0
        self.queue: list[Pending] = []
        self.labels: list[FraudLabel] = []
        self.breach_labels: list[FraudLabel] = []
        self.history_events = 0
        self.merchants = {
            country: merchant_pool(self.rng, country, (lat, lon))
            for country, (lat, lon, _) in COUNTRIES.items()
        }
        self.breaches = MerchantBreaches(
            self.rng,
            [m.merchant_id for pool in self.merchants.values() for m in pool],
            breaches_per_day,
            breach_days,
        )
        # enough cards that a legitimate card sees well under one charge a minute
        self.customers = [self._customer(i) for i in range(max(5000, int(rate * 150)))]

    def _customer(self, index: int) -> Customer:
        home = self.rng.choice(list(COUNTRIES))
        merchants = self.rng.sample(self.merchants[home], self.rng.randint(3, 8))
        return Customer(
            f"cust-{self.run_id}-{index}",
            f"card-{self.run_id}-{index}",
            home,
            merchants,
            self.rng.uniform(15, 90),
        )

    def _txn(
        self,
        customer: Customer,
        at: datetime,
        amount: float,
        merchant: Merchant | None = None,
        country: str | None = None,
        card_id: str | None = None,
    ) -> Transaction:
        merchant = merchant or self.rng.choice(customer.merchants)
        country = country or customer.home
        self.sequence += 1
        return Transaction(
            txn_id=f"t-{self.run_id}-{self.sequence}",
            card_id=card_id or customer.card_id,
            customer_id=customer.customer_id,
            merchant_id=merchant.merchant_id,
            merchant_category=merchant.category,
            amount=Decimal(f"{max(amount, 0.5):.2f}"),
            currency=COUNTRIES[country][2],
            country=country,
            lat=round(merchant.lat, 4),
            lon=round(merchant.lon, 4),
            channel="ecom" if self.rng.random() < 0.3 else "pos",
            event_time=at,
        )

    def schedule(self, transaction: Transaction) -> None:
        heapq.heappush(self.queue, Pending(transaction.event_time, self.sequence, transaction))

    def _inject(self, at: datetime) -> None:
        index = len(self.labels)
        victim = self.rng.choice(self.customers)
        card = f"card-{self.run_id}-fraud-{index}"  # a compromised card, used only by the fraudster
        pattern = self.rng.choice(list(FraudPattern))
        steps: list[tuple[float, float, str | None]] = []  # seconds after `at`, amount, country
        if pattern is FraudPattern.CARD_TESTING:
            offset = 0.0
            for _ in range(self.rng.randint(3, 5)):
                steps.append((offset, self.rng.uniform(1.00, 1.99), None))
                offset += self.rng.uniform(2, 8)
            steps.append((offset + self.rng.uniform(3, 15), self.rng.uniform(400, 1500), None))
        elif pattern is FraudPattern.VELOCITY_BURST:
            offset = 0.0
            for _ in range(self.rng.randint(9, 12)):
                steps.append((offset, self.rng.uniform(20, 80), None))
                offset += self.rng.uniform(1, 4)
        elif pattern is FraudPattern.IMPOSSIBLE_TRAVEL:
            home = COUNTRIES[victim.home]
            far = [
                c
                for c, (lat, lon, _) in COUNTRIES.items()
                if distance_km(home[0], home[1], lat, lon) > 3000
            ]
            steps.append((0.0, self.rng.uniform(30, 200), None))
            steps.append(
                (self.rng.uniform(20, 90), self.rng.uniform(100, 900), self.rng.choice(far))
            )
        else:  # ESCALATION
            amount, offset = self.rng.uniform(20, 40), 0.0
            for _ in range(4):
                steps.append((offset, amount, None))
                amount *= self.rng.uniform(2.2, 3.0)
                offset += self.rng.uniform(5, 25)
            if steps[-1][1] < 500:
                steps[-1] = (steps[-1][0], self.rng.uniform(500, 900), None)
        merchant = self.rng.choice(victim.merchants)
        txns = []
        for seconds, amount, country in steps:
            where = merchant
            if country is not None:
                lat, lon, _ = COUNTRIES[country]
                where = Merchant(
                    f"m-{country}-{self.rng.randrange(10**6):06d}", "electronics", lat, lon
                )
            txn = self._txn(victim, at + timedelta(seconds=seconds), amount, where, country, card)
            txns.append(txn)
            self.schedule(txn)
        self.labels.append(
            FraudLabel(
                scenario_id=f"s-{self.run_id}-{index}",
                pattern=pattern,
                card_id=card,
                txn_ids=[t.txn_id for t in txns],
                first_event_time=txns[0].event_time,
                last_event_time=txns[-1].event_time,
            )
        )

    def history(self, days: float, per_day: float) -> Iterator[Transaction]:
        """Traffic over `days` before the start, `per_day` charges a day, in event-time order,
        with its card scenarios (injected at the stream's share) and merchant breaches."""
        count = int(days * per_day)
        for slot in range(count):
            at = self.start - timedelta(days=days) + timedelta(days=slot / per_day)
            while self.queue and self.queue[0].event_time <= at:
                yield heapq.heappop(self.queue).transaction
            if self.rng.random() < self.fraud_share:
                self._inject(at)
            self._legitimate(at)
            self.history_events += 1
        while self.queue and self.queue[0].event_time < self.start:
            yield heapq.heappop(self.queue).transaction

    def events(self, count: int) -> Iterator[Transaction]:
        """`count` legitimate slots in event-time order, with the scenarios they trigger."""
        for slot in range(count):
            at = self.start + timedelta(seconds=slot / self.rate)
            while self.queue and self.queue[0].event_time <= at:
                yield heapq.heappop(self.queue).transaction
            if self.rng.random() < self.fraud_share:
                self._inject(at)
            self._legitimate(at)
        # keep ordinary traffic flowing past the last scenario, as a live stream would: the
        # detector's event-time clock (its watermark) only moves with new events
        slot = count
        last = max((p.event_time for p in self.queue), default=self.start)
        at = self.start + timedelta(seconds=slot / self.rate)
        while at <= last + timedelta(seconds=3):
            at = self.start + timedelta(seconds=slot / self.rate)
            while self.queue and self.queue[0].event_time <= at:
                yield heapq.heappop(self.queue).transaction
            self._legitimate(at)
            slot += 1
        while self.queue:
            yield heapq.heappop(self.queue).transaction

    def _legitimate(self, at: datetime) -> None:
        customer = self.rng.choice(self.customers)
        amount = self.rng.lognormvariate(math.log(customer.median_amount), 0.8)
        merchant = self.rng.choice(customer.merchants)
        txn = self._txn(customer, at, amount, merchant)
        self.schedule(txn)
        self.breaches.at(at)
        breach = self.breaches.breach_of(merchant.merchant_id, at)
        if breach is not None:
            self.breach_labels.append(
                FraudLabel(
                    scenario_id=f"s-{self.run_id}-breach{breach.index}-{txn.txn_id}",
                    pattern=MerchantScenario.MERCHANT_COMPROMISE,
                    card_id=txn.card_id,
                    txn_ids=[txn.txn_id],
                    first_event_time=at,
                    last_event_time=at,
                )
            )

    def malformed(self) -> bytes:
        kind = self.rng.randrange(4)
        if kind == 0:
            return b"\x00\x01 not json at all"
        if kind == 1:
            return json.dumps({"schema_version": 1, "txn_id": "broken", "amount": "12"}).encode()
        if kind == 2:
            return json.dumps({"schema_version": 99, "card_id": "c", "event_time": "soon"}).encode()
        return b'{"schema_version": 1, "card_id": "card-x", "amount": "abc", "event_time": '


def card_testing_attack(card_id: str, customer_id: str, start: datetime) -> list[Transaction]:
    """A hand-made card-testing attack on one card, two seconds apart: four tiny charges, then
    a large one (the demo and the tests aim it at the card of an order in flight)."""
    amounts = ["1.10", "1.25", "1.05", "1.40", "899.00"]
    return [
        Transaction(
            txn_id=f"t-{card_id}-{i}",
            card_id=card_id,
            customer_id=customer_id,
            merchant_id="m-FR-attack",
            merchant_category="online_services",
            amount=Decimal(amount),
            currency="EUR",
            country="FR",
            lat=48.85,
            lon=2.35,
            channel="ecom",
            event_time=start + timedelta(seconds=2 * i),
        )
        for i, amount in enumerate(amounts)
    ]


def produce(
    settings: Settings,
    topic: str,
    *,
    run_id: str,
    seed: int,
    rate: float,
    duration_s: float,
    fraud_share: float = 0.01,
    malformed_share: float = 0.002,
    realtime: bool = True,
    start: datetime | None = None,
    inject: queue.Queue[Callable[[datetime], list[Transaction]]] | None = None,
    progress: Callable[[StreamProgress], None] | None = None,
    progress_every_s: float = 10.0,
    history_days: float = 0.0,
    history_per_day: float = 2500.0,
    breaches_per_day: float = 0.5,
    breach_days: float = 14.0,
    live: threading.Event | None = None,
) -> StreamStats:
    """Send the stream to Kafka and store its labels; returns what was sent.

    `start` (default: now) is the event time of the first event; a fast stream runs ahead of
    the wall clock, so a later stream on the same topic must start after it ends. `inject`
    takes extra transactions while the stream runs: each item builds them from an event time
    just after the stream's current one, and they join the stream in event-time order (sent
    through another producer, with their own clock, they could arrive behind the detector's
    watermark and be dropped as late). `progress` is called every `progress_every_s`.
    `history_days` of ordinary traffic at `history_per_day` charges a day come first, ending at
    `start`; merchants are breached `breaches_per_day` times a day, for `breach_days` each.
    `live` is set once the history is sent and the live part begins."""
    stream = TransactionStream(
        run_id,
        seed,
        rate,
        fraud_share,
        malformed_share,
        start or datetime.now(UTC),
        breaches_per_day,
        breach_days,
    )
    # building the population takes seconds: the clock starts when the first event leaves
    start = stream.start = start or datetime.now(UTC)
    sender = producer(
        settings, **{"enable.idempotence": True, "linger.ms": 5, "compression.type": "lz4"}
    )
    stats = StreamStats()
    began = time.monotonic()
    report_at = began + progress_every_s

    def live_part() -> Iterator[Transaction]:
        nonlocal start, began
        if realtime and history_days:  # the history took a while to send: now is the start
            start = stream.start = datetime.now(UTC)
            began = time.monotonic()
        if live is not None:
            live.set()
        yield from stream.events(int(rate * duration_s))

    traffic = itertools.chain(stream.history(history_days, history_per_day), live_part())
    for txn in traffic:
        if progress is not None and time.monotonic() >= report_at:
            report_at += progress_every_s
            complete = sum(label.last_event_time <= txn.event_time for label in stream.labels)
            progress(
                StreamProgress(
                    stats.events, txn.event_time, complete, len(stream.labels) - complete
                )
            )
        if realtime:
            delay = (txn.event_time - start).total_seconds() - (time.monotonic() - began)
            if delay > 0:
                time.sleep(delay)
        if stream.rng.random() < malformed_share:
            send_record(sender, topic, b"malformed", stream.malformed())
            stats.malformed += 1
        send_record(sender, topic, txn.card_id.encode(), txn.model_dump_json().encode())
        stats.events += 1
        while inject is not None and not inject.empty():
            for extra in inject.get_nowait()(txn.event_time + timedelta(seconds=1)):
                stream.schedule(extra)
    sender.flush(60)
    stats.seconds = time.monotonic() - began
    stats.labels = stream.labels
    stats.scenarios = dict(Counter(FraudPattern(label.pattern) for label in stream.labels))
    stats.live_start = stream.start
    stats.merchant_breaches = len(stream.breaches.started)
    stats.breached_charges = len(stream.breach_labels)
    store_labels(settings.postgres_dsn, run_id, stream.labels + stream.breach_labels)
    return stats


def store_labels(dsn: str, run_id: str, labels: list[FraudLabel]) -> None:
    with connect(dsn) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "insert into fraud_labels (scenario_id, run_id, pattern, card_id, txn_ids,"
            " first_event_time, last_event_time) values (%s, %s, %s, %s, %s, %s, %s)"
            " on conflict (scenario_id) do nothing",
            [
                (
                    label.scenario_id,
                    run_id,
                    label.pattern.value,
                    label.card_id,
                    label.txn_ids,
                    label.first_event_time,
                    label.last_event_time,
                )
                for label in labels
            ],
        )
