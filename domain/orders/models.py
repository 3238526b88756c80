"""The order saga's boundary types: its input, its messages (updates, signal), its queries' views,
and what the activities take and return."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
# the largest amount the shop's database records (numeric(12, 2)): the database's limits are
# part of the contract, so an order beyond them is refused before anything is written
MAX_AMOUNT = Decimal("9999999999.99")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- input ------------------------------------------------------------------------------------


class OrderItem(Model):
    sku: Identifier
    quantity: int = Field(gt=0, le=10_000)
    unit_price: Decimal = Field(gt=0, max_digits=12, decimal_places=2)


class PaymentMethod(Model):
    card_id: Identifier = Field(description="the card's token at the payment provider")


class ShippingAddress(Model):
    name: Text
    line1: Text
    city: Text
    postal_code: Annotated[str, StringConstraints(min_length=2, max_length=12)]
    country: CountryCode


class ClientContext(Model):
    country: CountryCode
    ip: IPv4Address | IPv6Address
    device_id: Identifier


class OrderRequest(Model):
    order_id: Identifier
    customer_id: Identifier
    payment: PaymentMethod
    items: list[OrderItem] = Field(min_length=1, max_length=50)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    shipping_address: ShippingAddress
    client: ClientContext
    # a timer's duration: Temporal takes no longer one, and no review waits a month
    review_timeout: timedelta = Field(
        default=timedelta(hours=24), gt=timedelta(0), le=timedelta(days=30)
    )

    @field_validator("items")
    @classmethod
    def one_line_per_sku(cls, items: list[OrderItem]) -> list[OrderItem]:
        skus = [item.sku for item in items]
        if len(set(skus)) != len(skus):
            raise ValueError("each SKU may appear on one line only")
        total = sum((item.unit_price * item.quantity for item in items), Decimal("0"))
        if total > MAX_AMOUNT:
            raise ValueError(f"the order's total {total} is above {MAX_AMOUNT}, the most it can be")
        return items

    @property
    def total(self) -> Decimal:
        return sum((item.unit_price * item.quantity for item in self.items), Decimal("0"))

    # what the saga's steps are given (defined below)
    def screening_request(self) -> ScreeningRequest:
        return ScreeningRequest(
            order_id=self.order_id,
            customer_id=self.customer_id,
            card_id=self.payment.card_id,
            amount=self.total,
            client_country=self.client.country,
            ship_country=self.shipping_address.country,
        )

    def payment_request(self) -> PaymentRequest:
        return PaymentRequest(
            order_id=self.order_id,
            card_id=self.payment.card_id,
            amount=self.total,
            currency=self.currency,
        )

    def shipment_request(self) -> ShipmentRequest:
        return ShipmentRequest(
            order_id=self.order_id, address=self.shipping_address, items=self.items
        )


# --- states and decisions ------------------------------------------------------------------------


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    SCREENING = "SCREENING"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    RESERVING_STOCK = "RESERVING_STOCK"
    AUTHORIZING_PAYMENT = "AUTHORIZING_PAYMENT"
    CREATING_SHIPMENT = "CREATING_SHIPMENT"
    CAPTURING_PAYMENT = "CAPTURING_PAYMENT"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.FAILED}
)


class FraudDecision(StrEnum):
    APPROVE = "APPROVE"
    REVIEW = "REVIEW"
    REJECT = "REJECT"


class Screening(Model):
    decision: FraudDecision
    reasons: list[str] = Field(default_factory=list)
    model_version: str | None = Field(default=None, description="the champion that scored it")
    model_score: float | None = Field(default=None, description="its fraud probability")

    @property
    def detail(self) -> str:
        return "; ".join([self.decision.value, *self.reasons])


# --- messages ------------------------------------------------------------------------------------


class ReviewVerdict(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


class ReviewDecision(Model):
    decision: ReviewVerdict
    reviewer: Text
    note: Text


class CancelRequest(Model):
    reason: Text


FRAUD_ALERT = "fraud_alert"  # the order saga's signal, sent with a FraudAlertSignal


class FraudAlertSignal(Model):
    alert_id: Identifier
    card_id: Identifier
    pattern: Text
    detail: str = ""


class RefusedMessage(Model):
    """A message the saga could not act on (a signal without the payload it takes, say)."""

    order_id: str
    message: str
    reason: str
    sequence: int = Field(ge=1, description="the order's n-th refused message")


class MessageAccepted(Model):
    order_id: str
    status: OrderStatus
    message: str


# --- query views ---------------------------------------------------------------------------------


class StepRecord(Model):
    step: str
    outcome: str  # started | done | failed | cancelled
    at: datetime
    detail: str = ""


class CompensationRecord(Model):
    step: str
    compensation: str
    at: datetime
    detail: str = ""


class OrderView(Model):
    order_id: str
    status: OrderStatus
    fraud_decision: FraudDecision | None
    reasons: list[str]
    review: ReviewDecision | None
    abort_reason: str | None


class OrderResult(Model):
    order_id: str
    status: OrderStatus
    reason: str | None
    fraud_decision: FraudDecision | None
    steps: list[StepRecord]
    compensations: list[CompensationRecord]


# --- activity payloads -------------------------------------------------------------------------


class OrderRef(Model):
    order_id: str


class ReservationRequest(Model):
    order_id: str
    items: list[OrderItem]


class ScreeningRequest(Model):
    order_id: str
    customer_id: str
    card_id: str
    amount: Decimal
    client_country: str
    ship_country: str


class PaymentRequest(Model):
    order_id: str
    card_id: str
    amount: Decimal
    currency: str


class ShipmentRequest(Model):
    order_id: str
    address: ShippingAddress
    items: list[OrderItem]


class StepOutcome(Model):
    """What an activity did; `applied` is False when the step had already been done or undone."""

    applied: bool
    detail: str = ""


class RecordedOrder(StepOutcome):
    """record_order's answer: `applied` False when the order was recorded before, by this run's
    earlier attempt or by another run; then its recorded state (from v5 on)."""

    status: OrderStatus | None = None
    status_reason: str | None = None
    fraud_decision: FraudDecision | None = None
    recorded_by_run: str | None = None


class RecordedState(Model):
    """An order as PostgreSQL has it: what a repair needs to undo what its saga did."""

    order_id: str
    status: OrderStatus
    card_id: str
    total: Decimal
    currency: str

    def payment_request(self) -> PaymentRequest:
        return PaymentRequest(
            order_id=self.order_id, card_id=self.card_id, amount=self.total, currency=self.currency
        )


class RepairRequest(Model):
    """Close an order whose saga ended without closing it (terminated, say)."""

    order_id: Identifier
    reason: Text = "its saga ended without closing it"


class OrderClosure(Model):
    order_id: str
    status: OrderStatus
    reason: str | None = None
    fraud_decision: FraudDecision | None = None


class BusinessError(StrEnum):
    """ApplicationError types the saga treats as final (never retried)."""

    UNKNOWN_SKU = "UnknownSku"
    INVALID_DATA = "InvalidData"  # the database refused the data itself: no retry can fix it
    INVALID_QUANTITY = "InvalidQuantity"
    OUT_OF_STOCK = "OutOfStock"
    CARD_DECLINED = "CardDeclined"
    SHIPPING_UNAVAILABLE = "ShippingUnavailable"
