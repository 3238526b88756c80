"""A simulated card payment provider, standing in for a real one such as a PSP's API.

It behaves like one where it matters for a saga: every operation carries an idempotency key and
is performed at most once per key (a retry gets the original answer); it keeps its own ledger in
its own transactions (table `provider_operations`), apart from the shop's `payments` table.

Behaviour for tests and demos:
- test cards: a card id starting with `card_declined` is declined at authorization, one starting
  with `card_capture_declined` is declined at capture;
- a latency per call, and injected faults at configurable rates: a *transient error* (the call
  fails, nothing happened) and a *timeout* (the provider did the work, but the answer is lost).
  Both are retried by Temporal, and the idempotency key makes the retry safe.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool


class ProviderUnavailable(Exception):
    """The call failed before the provider did anything (e.g. 503)."""


class ProviderTimeout(Exception):
    """No answer: the provider may or may not have performed the operation."""


@dataclass(frozen=True)
class ProviderBehaviour:
    latency_s: float = 0.0  # how long each call takes, as a real provider's network round trip
    transient_error_rate: float = 0.0
    timeout_rate: float = 0.0


@dataclass(frozen=True)
class ProviderAnswer:
    approved: bool
    reference: str
    amount: Decimal
    decline_reason: str | None = None


class SimulatedPaymentProvider:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        behaviour: ProviderBehaviour | None = None,
        rng: random.Random | None = None,
    ):
        self.pool = pool
        self.behaviour = behaviour or ProviderBehaviour()
        self.rng = rng or random.Random()

    async def authorize(self, order_id: str, card_id: str, amount: Decimal) -> ProviderAnswer:
        declined = "card declined by issuer" if card_id.startswith("card_declined") else None
        return await self._operate("authorize", order_id, card_id, amount, declined)

    async def capture(self, order_id: str) -> ProviderAnswer:
        authorization = await self._approved(order_id, "authorize")
        if authorization is None:
            raise ValueError(f"no approved authorization to capture for order {order_id}")
        card_id, amount = authorization
        declined = (
            "capture declined: authorization expired"
            if card_id.startswith("card_capture_declined")
            else None
        )
        return await self._operate("capture", order_id, card_id, amount, declined)

    async def void(self, order_id: str) -> ProviderAnswer | None:
        """Void the authorization of the order, if there is one; None when there is nothing."""
        authorization = await self._approved(order_id, "authorize")
        if authorization is None or await self._approved(order_id, "capture"):
            return None
        return await self._operate("void", order_id, *authorization, None)

    async def refund(self, order_id: str) -> ProviderAnswer | None:
        """Refund the capture of the order, if there is one; None when there is nothing."""
        capture = await self._approved(order_id, "capture")
        if capture is None:
            return None
        return await self._operate("refund", order_id, *capture, None)

    async def _approved(self, order_id: str, operation: str) -> tuple[str, Decimal] | None:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "select card_id, amount from provider_operations "
                    "where idempotency_key = %s and outcome = 'approved'",
                    (f"{order_id}:{operation}",),
                )
            ).fetchone()
        return (row[0], row[1]) if row else None

    async def _operate(
        self,
        operation: str,
        order_id: str,
        card_id: str,
        amount: Decimal,
        decline_reason: str | None,
    ) -> ProviderAnswer:
        await asyncio.sleep(self.behaviour.latency_s)
        if self.rng.random() < self.behaviour.transient_error_rate:
            raise ProviderUnavailable(f"payment provider unavailable during {operation} (503)")
        key = f"{order_id}:{operation}"
        async with self.pool.connection() as conn:
            # the first attempt records the operation and its answer; a retry finds them
            recorded = await (
                await conn.execute(
                    "insert into provider_operations (idempotency_key, operation, order_id,"
                    " card_id, amount, outcome, reference, decline_reason)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " on conflict (idempotency_key) do nothing"
                    " returning outcome, reference, amount, decline_reason",
                    (
                        key,
                        operation,
                        order_id,
                        card_id,
                        amount,
                        "declined" if decline_reason else "approved",
                        f"{operation[:3]}_{uuid.uuid4().hex[:16]}",
                        decline_reason,
                    ),
                )
            ).fetchone()
            row = (
                recorded
                or await (
                    await conn.execute(
                        "select outcome, reference, amount, decline_reason from provider_operations"
                        " where idempotency_key = %s",
                        (key,),
                    )
                ).fetchone()
            )
        if row is None:  # neither inserted nor there: the ledger lost a row
            raise RuntimeError(f"the provider's ledger has no operation {key}")
        if self.rng.random() < self.behaviour.timeout_rate:
            raise ProviderTimeout(f"payment provider did not answer the {operation} in time")
        return ProviderAnswer(
            approved=row[0] == "approved", reference=row[1], amount=row[2], decline_reason=row[3]
        )
