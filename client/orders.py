"""Looking after orders from outside: checking the invariants, finding the orders whose saga
ended without closing them, and repairing one (OrderRepairWorkflow)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from core.db.connections import connect as connect_db
from core.errors import InvalidInput
from core.settings import Settings
from core.temporal import connect, require_worker
from domain.orders.invariants import check_order_invariants
from domain.orders.models import RepairRequest, StepOutcome
from workflows.orders.order_repair import OrderRepairWorkflow


async def saga_running(client: Client, order_id: str) -> bool:
    """Whether the order's saga (workflow id = order id) has a running run."""
    try:
        described = await client.get_workflow_handle(order_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status is WorkflowExecutionStatus.RUNNING


async def stuck_orders(
    settings: Settings,
    quiet_for: timedelta = timedelta(minutes=1),
    since: datetime | None = None,
) -> list[str]:
    """Orders PENDING in PostgreSQL, recorded by a saga, that no running saga will close: their
    saga was terminated, or failed before closing them (untouched for `quiet_for` at least;
    recorded `since`, when given)."""
    pending = await asyncio.to_thread(_pending_orders, settings, quiet_for, since)
    client = await connect(settings)
    return [order for order in pending if not await saga_running(client, order)]


def _pending_orders(settings: Settings, quiet_for: timedelta, since: datetime | None) -> list[str]:
    with connect_db(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "select order_id from orders where status = 'PENDING' and run_id is not null"
            " and updated_at <= now() - %s and created_at >= coalesce(%s::timestamptz, '-infinity')"
            " order by created_at",
            (quiet_for, since),
        ).fetchall()
    return [order_id for (order_id,) in rows]


@dataclass
class OrdersHealth:
    violations: list[str]  # of the invariants (domain/orders/invariants.py)
    stuck: list[str]  # orders no saga will close

    @property
    def healthy(self) -> bool:
        return not self.violations and not self.stuck


async def check_orders(
    settings: Settings, quiet_for: timedelta = timedelta(minutes=1), since: datetime | None = None
) -> OrdersHealth:
    """The invariants over the orders, and the stuck ones. With `since`, only the orders a saga
    recorded since then (an order written by hand or by an activity test has no run id)."""
    order_ids = None if since is None else await asyncio.to_thread(_orders_since, settings, since)
    violations = await asyncio.to_thread(check_order_invariants, settings.postgres_dsn, order_ids)
    return OrdersHealth(violations, await stuck_orders(settings, quiet_for, since))


def _orders_since(settings: Settings, since: datetime) -> list[str]:
    with connect_db(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "select order_id from orders where created_at >= %s and run_id is not null",
            (since,),
        )
        return [order_id for (order_id,) in rows.fetchall()]


async def repair_order(settings: Settings, order_id: str, reason: str) -> list[StepOutcome]:
    """Run OrderRepairWorkflow for the order, unless its saga is still running (then it is the
    saga's to finish, or to cancel)."""
    client = await connect(settings)
    await require_worker(client, settings.order_task_queue)
    if await saga_running(client, order_id):
        raise InvalidInput(
            f"the saga of order {order_id} is running",
            f"let it finish, or cancel it: `temporal workflow cancel -w {order_id}`",
        )
    try:
        return await client.execute_workflow(
            OrderRepairWorkflow.run,
            RepairRequest(order_id=order_id, reason=reason),
            id=f"repair-{order_id}",
            task_queue=settings.order_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowFailureError as failure:
        refusal = business_refusal(failure)
        if refusal is None:
            raise
        raise InvalidInput(
            f"order {order_id} cannot be repaired: {refusal.message}",
            "the orders left open are listed by `./hybrid orders check`",
        ) from failure


def business_refusal(failure: WorkflowFailureError) -> ApplicationError | None:
    """The business error (unknown order, ...) at the root of a workflow's failure, if any."""
    cause: BaseException | None = failure.cause
    while isinstance(cause, FailureError) and not isinstance(cause, ApplicationError):
        cause = cause.cause
    return cause if isinstance(cause, ApplicationError) and cause.non_retryable else None
