"""Shared by the order activities: the append-only saga event log and typed business errors."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection
from temporalio.exceptions import ApplicationError

from domain.orders.models import BusinessError


async def append_event(
    conn: AsyncConnection, order_id: str, step: str, event: str, **detail: Any
) -> None:
    """Record a step's outcome once: a retried activity finds its event already there."""
    await conn.execute(
        "insert into saga_events (order_id, step, event, detail) values (%s, %s, %s, %s)"
        " on conflict (order_id, step, event) do nothing",
        (order_id, step, event, json.dumps(detail, default=str)),
    )


def business_error(kind: BusinessError, message: str) -> ApplicationError:
    """A final answer of the business (out of stock, declined ...): never retried."""
    return ApplicationError(message, type=kind.value, non_retryable=True)
