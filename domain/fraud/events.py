"""Card transactions on Kafka, the ground-truth labels kept out of band, and fraud alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

SCHEMA_VERSION: Literal[1] = 1


class FraudPattern(StrEnum):
    CARD_TESTING = "card_testing"  # several tiny charges, then a large one
    VELOCITY_BURST = "velocity_burst"  # many charges on one card in a short time
    IMPOSSIBLE_TRAVEL = "impossible_travel"  # two places too far apart for the time between
    ESCALATION = "escalation"  # each charge much larger than the last, in quick succession


class MerchantScenario(StrEnum):
    """Fraud that no card's own charges show, so the CEP job is not expected to catch it: the
    model's merchant-risk features are for it."""

    # a breached merchant: every charge there is fraudulent for days (the Fraud Detection
    # Handbook's compromised terminal), on the cards of ordinary customers
    MERCHANT_COMPROMISE = "merchant_compromise"


class Transaction(BaseModel):
    """One card authorization request, as the payment switch publishes it (keyed by card)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    txn_id: str
    card_id: str
    customer_id: str
    merchant_id: str
    merchant_category: str
    amount: Decimal = Field(gt=0, decimal_places=2)
    currency: str
    country: str
    lat: float
    lon: float
    channel: Literal["pos", "ecom"]
    event_time: datetime

    @field_serializer("event_time")
    def millisecond_utc(self, value: datetime) -> str:
        """One fixed wire format, UTC to the millisecond, that the Flink job parses."""
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class FraudLabel(BaseModel):
    """Ground truth for one injected fraud scenario. The detector never sees these."""

    scenario_id: str
    pattern: FraudPattern | MerchantScenario
    card_id: str
    txn_ids: list[str]
    first_event_time: datetime
    last_event_time: datetime


class FraudAlert(BaseModel):
    """What the CEP job writes to the alerts topic."""

    alert_id: str
    card_id: str
    customer_id: str | None = None
    pattern: FraudPattern
    evidence: str
    first_event_time: datetime
    event_time: datetime  # of the match's last event
    detection_time: datetime
    rule_version: int = 0  # of the rule set that matched (0: an alert from before versions)
