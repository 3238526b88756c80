"""The activities the order saga calls: each one's name, input and result, the contract with the
worker that runs them. activities/orders/ implements every one (`@implements(...)`, which checks
the signature); the workflow tests script them the same way.

Declared here rather than imported from activities/, because a workflow module imports no I/O
code. Every one is idempotent on the order id; the ones that undo a step leave a tombstone that
stops a late attempt of that step.
"""

from __future__ import annotations

from temporalio import activity

from domain.orders.models import (
    OrderClosure,
    OrderRef,
    OrderRequest,
    PaymentRequest,
    RecordedOrder,
    RecordedState,
    RefusedMessage,
    ReservationRequest,
    Screening,
    ScreeningRequest,
    ShipmentRequest,
    StepOutcome,
)


@activity.defn
async def record_order(request: OrderRequest) -> RecordedOrder:
    """The order and its lines, PENDING, recorded once; an order recorded before answers with
    its recorded status."""
    raise NotImplementedError


@activity.defn
async def recorded_state(order: OrderRef) -> RecordedState:
    """The order as PostgreSQL has it (status, card, total): what a repair works from."""
    raise NotImplementedError


@activity.defn
async def screen_order(request: ScreeningRequest) -> Screening:
    """The fraud screen's rules and the champion model's score: APPROVE, REVIEW or REJECT."""
    raise NotImplementedError


@activity.defn
async def check_shipping_zone(request: ShipmentRequest) -> StepOutcome:
    """Fails (ShippingUnavailable) when no carrier serves the destination."""
    raise NotImplementedError


@activity.defn
async def reserve_stock(request: ReservationRequest) -> StepOutcome:
    """Hold the order's quantities (UnknownSku, InvalidQuantity, OutOfStock)."""
    raise NotImplementedError


@activity.defn
async def release_stock(order: OrderRef) -> StepOutcome:
    """Undo reserve_stock."""
    raise NotImplementedError


@activity.defn
async def authorize_payment(request: PaymentRequest) -> StepOutcome:
    """Authorize the total with the payment provider (CardDeclined)."""
    raise NotImplementedError


@activity.defn
async def void_payment(request: PaymentRequest) -> StepOutcome:
    """Undo authorize_payment, even when its answer was lost."""
    raise NotImplementedError


@activity.defn
async def create_shipment(request: ShipmentRequest) -> StepOutcome:
    """A shipment with the carrier of the destination's zone."""
    raise NotImplementedError


@activity.defn
async def cancel_shipment(order: OrderRef) -> StepOutcome:
    """Undo create_shipment."""
    raise NotImplementedError


@activity.defn
async def capture_payment(request: PaymentRequest) -> StepOutcome:
    """Capture the authorized amount (CardDeclined): the point of no return."""
    raise NotImplementedError


@activity.defn
async def refund_payment(request: PaymentRequest) -> StepOutcome:
    """Undo capture_payment."""
    raise NotImplementedError


@activity.defn
async def complete_order(order: OrderRef) -> StepOutcome:
    """Consume the reserved stock and mark the order COMPLETED."""
    raise NotImplementedError


@activity.defn
async def close_order(closure: OrderClosure) -> StepOutcome:
    """Record a terminal state other than COMPLETED, with its reason."""
    raise NotImplementedError


@activity.defn
async def record_refusal(refused: RefusedMessage) -> StepOutcome:
    """A refused message in the order's audit log (saga_events), where a person can see it."""
    raise NotImplementedError
