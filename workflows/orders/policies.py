"""How the order saga runs its activities, and which of its statuses a person searches for."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from domain.orders.models import BusinessError, OrderStatus
from workflows.options import ActivityOptions

# Forward steps retry infrastructure errors with backoff for up to ten minutes, then the saga
# compensates. Business errors are final at once.
STEP = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=15),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[kind.value for kind in BusinessError],
    ),
)
# Compensations must never give up: unlimited attempts, backoff capped at a minute.
COMPENSATION = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
    ),
)
# From v3 the search attributes are set only at the milestones a person searches for, in one
# upsert each: every upsert is a history event and a visibility write, and most orders finish in
# under a second. The `status` query always has the exact step.
SEARCHABLE_STATUSES = frozenset(
    {
        OrderStatus.AWAITING_REVIEW,
        OrderStatus.COMPENSATING,
        OrderStatus.COMPLETED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
        OrderStatus.FAILED,
    }
)
