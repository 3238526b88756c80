"""A saga's bookkeeping, apart from any business: compensations registered before their steps
start and run newest first, a step that an abort may interrupt while it is in flight, and what
a step's failure says.

Why before: an abort (a cancel, a fraud alert, the workflow's cancellation) can arrive while a
step runs, and whether the step took effect is then unknown; every compensation is idempotent,
so running it is always safe. A step that failed for a business reason rolled its transaction
back, so its compensation is discarded. A compensation leaves the pending list only once it has
run: if the saga is interrupted while compensating, the next `run()` runs it again.

Deterministic and stateless at module level: workflow modules import it passed through the
sandbox. Its own workflow tests: tests/workflows/test_saga.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityHandle

R = TypeVar("R")


class Compensation(NamedTuple):
    step: str  # the step it undoes
    name: str  # what undoes it
    undo: Callable[[], Awaitable[str]]  # runs it; returns what it did


class Compensations:
    """The compensations of the steps that may have happened, newest last."""

    def __init__(self) -> None:
        self.pending: list[Compensation] = []

    def register(self, step: str, name: str, undo: Callable[[], Awaitable[str]]) -> Compensation:
        compensation = Compensation(step, name, undo)
        self.pending.append(compensation)
        return compensation

    def discard(self, compensation: Compensation) -> None:
        """The step is known not to have happened (its transaction rolled back)."""
        self.pending.remove(compensation)

    async def run(self) -> AsyncIterator[tuple[Compensation, str]]:
        """Run every pending compensation, newest first; yields each, with what it did, once it
        has run."""
        while self.pending:
            compensation = self.pending[-1]
            detail = await compensation.undo()
            self.pending.pop()
            yield compensation, detail


async def finished_unless(handle: ActivityHandle[R], interrupted: Callable[[], bool]) -> bool:
    """Wait for the activity, unless `interrupted()` becomes true first: then the activity is
    cancelled and abandoned (not waited for). True when the activity finished (its result or
    error is in `handle`)."""
    await workflow.wait_condition(lambda: handle.done() or interrupted())
    if handle.done():
        return True
    handle.cancel()
    with contextlib.suppress(ActivityError, asyncio.CancelledError):
        await handle  # resolves at once: the activity is abandoned, not awaited
    return False


def failed_for(failure: ActivityError, error_types: frozenset[str]) -> bool:
    """The step failed with an application error of one of these types (say, a business
    reason: its transaction rolled back)."""
    cause = failure.cause
    return isinstance(cause, ApplicationError) and cause.type in error_types


def describe_failure(failure: ActivityError) -> str:
    """`<type>: <message>` for an application error, else the cause as it reads."""
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or failure)
