"""Payments through the provider: authorize (compensation: void), capture (compensation: refund).

Each activity holds a per-order advisory lock while it talks to the provider, so a compensation
never interleaves with a late attempt of its step. Void and refund ask the provider's ledger what
exists, so even an authorization whose answer was lost (worker crash, timeout) is undone."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from activities.orders.saga_log import append_event, business_error
from domain.orders.models import BusinessError, PaymentRequest, StepOutcome
from domain.orders.payment_provider import SimulatedPaymentProvider
from workflows.orders import activities as declared


class PaymentActivities:
    def __init__(self, pool: AsyncConnectionPool, provider: SimulatedPaymentProvider):
        self.pool = pool
        self.provider = provider

    @staticmethod
    async def _lock_payment(conn: AsyncConnection, order_id: str) -> str | None:
        await conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (order_id,))
        row = await (
            await conn.execute("select status from payments where order_id = %s", (order_id,))
        ).fetchone()
        return row[0] if row else None

    @implements(declared.authorize_payment)
    async def authorize_payment(self, request: PaymentRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            status = await self._lock_payment(conn, request.order_id)
            if status is not None:
                return StepOutcome(applied=False, detail=f"payment already {status}")
            answer = await self.provider.authorize(
                request.order_id, request.card_id, request.amount
            )
            await conn.execute(
                "insert into payments (order_id, card_id, amount, currency, status,"
                " authorization_ref, decline_reason) values (%s, %s, %s, %s, %s, %s, %s)",
                (
                    request.order_id,
                    request.card_id,
                    request.amount,
                    request.currency,
                    "AUTHORIZED" if answer.approved else "DECLINED",
                    answer.reference,
                    answer.decline_reason,
                ),
            )
            await append_event(
                conn,
                request.order_id,
                "authorize_payment",
                "done" if answer.approved else "declined",
                reference=answer.reference,
                amount=request.amount,
            )
        if not answer.approved:
            raise business_error(BusinessError.CARD_DECLINED, answer.decline_reason or "declined")
        return StepOutcome(applied=True, detail=f"authorized {request.amount} ({answer.reference})")

    @implements(declared.void_payment)
    async def void_payment(self, request: PaymentRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            status = await self._lock_payment(conn, request.order_id)
            if status in ("VOIDED", "DECLINED", "REFUNDED", "CAPTURED"):
                # a captured payment is undone by the refund compensation, which runs first
                return StepOutcome(applied=False, detail=f"payment is {status}")
            answer = await self.provider.void(request.order_id)
            reference = answer.reference if answer else None
            if status is None:
                # tombstone: a late attempt of authorize_payment must not authorize
                await conn.execute(
                    "insert into payments (order_id, card_id, amount, currency, status, void_ref)"
                    " values (%s, %s, %s, %s, 'VOIDED', %s)",
                    (
                        request.order_id,
                        request.card_id,
                        request.amount,
                        request.currency,
                        reference,
                    ),
                )
            else:
                await conn.execute(
                    "update payments set status = 'VOIDED', void_ref = %s, updated_at = now()"
                    " where order_id = %s",
                    (reference, request.order_id),
                )
            await append_event(conn, request.order_id, "void_payment", "done", reference=reference)
        return StepOutcome(
            applied=answer is not None,
            detail=f"voided ({reference})" if answer else "nothing was authorized",
        )

    @implements(declared.capture_payment)
    async def capture_payment(self, request: PaymentRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            status = await self._lock_payment(conn, request.order_id)
            if status == "CAPTURED":
                return StepOutcome(applied=False, detail="payment already CAPTURED")
            if status != "AUTHORIZED":
                raise ApplicationError(
                    f"cannot capture order {request.order_id}: payment is {status}",
                    type="PaymentNotCapturable",
                    non_retryable=True,
                )
            answer = await self.provider.capture(request.order_id)
            if answer.approved:
                await conn.execute(
                    "update payments set status = 'CAPTURED', capture_ref = %s, updated_at = now()"
                    " where order_id = %s",
                    (answer.reference, request.order_id),
                )
            await append_event(
                conn,
                request.order_id,
                "capture_payment",
                "done" if answer.approved else "declined",
                reference=answer.reference,
            )
        if not answer.approved:
            raise business_error(BusinessError.CARD_DECLINED, answer.decline_reason or "declined")
        return StepOutcome(applied=True, detail=f"captured {answer.amount} ({answer.reference})")

    @implements(declared.refund_payment)
    async def refund_payment(self, request: PaymentRequest) -> StepOutcome:
        async with self.pool.connection() as conn, conn.transaction():
            status = await self._lock_payment(conn, request.order_id)
            if status == "REFUNDED":
                return StepOutcome(applied=False, detail="payment already REFUNDED")
            answer = await self.provider.refund(request.order_id)
            if answer is None:
                return StepOutcome(applied=False, detail="nothing was captured")
            await conn.execute(
                "update payments set status = 'REFUNDED', refund_ref = %s, updated_at = now()"
                " where order_id = %s",
                (answer.reference, request.order_id),
            )
            await append_event(
                conn, request.order_id, "refund_payment", "done", reference=answer.reference
            )
        return StepOutcome(applied=True, detail=f"refunded {answer.amount} ({answer.reference})")
