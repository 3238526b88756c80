"""Merchants shared by the generator's customers, and breaches of them.

A breach starts at a random moment of event time (a Poisson process, `per_day` breaches a day
across all merchants) and lasts `days`: every charge at the merchant meanwhile is fraudulent,
whoever's card it is (the compromised terminal of the Fraud Detection Handbook, ch. 3). No
card's own sequence of charges shows it, so it is labelled as a merchant scenario that the CEP
job is not expected to catch; the model sees it through the merchants' fraud share in windows
that end the label delay before a charge (domain/pipeline/features.py). A breach must last
longer than that delay to be catchable at all."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.fraud.places import CATEGORIES

# merchants per country: few enough that each sees many customers a day, so that its fraud
# share over a window means something
MERCHANTS_PER_COUNTRY = 20


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    category: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Breach:
    index: int
    merchant_id: str
    start: datetime
    end: datetime


def merchant_pool(rng: random.Random, country: str, centre: tuple[float, float]) -> list[Merchant]:
    """A country's merchants, named by country and number so that every stream shares them."""
    return [
        Merchant(
            f"m-{country}-{number:04d}",
            rng.choice(CATEGORIES),
            centre[0] + rng.uniform(-1.2, 1.2),
            centre[1] + rng.uniform(-1.2, 1.2),
        )
        for number in range(MERCHANTS_PER_COUNTRY)
    ]


class MerchantBreaches:
    """Which merchant is breached at a given event time; breaches start as time advances."""

    def __init__(
        self, rng: random.Random, merchants: list[str], per_day: float, days: float
    ) -> None:
        self.rng = rng
        self.merchants = merchants
        self.per_day = per_day
        self.duration = timedelta(days=days)
        self.active: dict[str, Breach] = {}
        self.started: list[Breach] = []
        self.next_start: datetime | None = None

    def at(self, when: datetime) -> None:
        """Advance event time to `when` (never backwards), starting the breaches due by then."""
        if self.per_day <= 0:
            return
        if self.next_start is None:
            self.next_start = when + self._gap()
        while self.next_start <= when:
            self._start(self.next_start)
            self.next_start += self._gap()

    def breach_of(self, merchant_id: str, when: datetime) -> Breach | None:
        breach = self.active.get(merchant_id)
        return breach if breach is not None and breach.start <= when < breach.end else None

    def _gap(self) -> timedelta:
        return timedelta(days=self.rng.expovariate(self.per_day))

    def _start(self, when: datetime) -> None:
        # breaches that ended are dropped here, not on every charge: breach_of checks the time
        self.active = {m: b for m, b in self.active.items() if b.end > when}
        idle = [m for m in self.merchants if m not in self.active]
        if not idle:
            return
        breach = Breach(len(self.started), self.rng.choice(idle), when, when + self.duration)
        self.active[breach.merchant_id] = breach
        self.started.append(breach)
