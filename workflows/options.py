"""Activity options as one typed value, and a typed call of an activity.

`ActivityOptions(...).execute(activity, argument)` is `workflow.execute_activity(activity,
argument, **options)` with every option checked by the type checker; `Call(activity, argument)`
is an activity and its argument, to be run later (a saga's step and its compensation).

Deterministic and stateless: workflow modules import it passed through the sandbox, so it is not
imported again for every workflow run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Generic, NamedTuple, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType, ActivityHandle

A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class ActivityOptions:
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL

    def start(self, activity: Callable[[A], Awaitable[R]], argument: A) -> ActivityHandle[R]:
        return workflow.start_activity(
            activity,
            argument,
            start_to_close_timeout=self.start_to_close_timeout,
            schedule_to_close_timeout=self.schedule_to_close_timeout,
            heartbeat_timeout=self.heartbeat_timeout,
            retry_policy=self.retry_policy,
            cancellation_type=self.cancellation_type,
        )

    async def execute(self, activity: Callable[[A], Awaitable[R]], argument: A) -> R:
        return await self.start(activity, argument)

    def but(self, **changes: Any) -> ActivityOptions:
        """These options with some changed, e.g. `QUICK.but(heartbeat_timeout=...)`."""
        return replace(self, **changes)


class Call(NamedTuple, Generic[A, R]):
    """An activity and its argument, to be run later."""

    activity: Callable[[A], Awaitable[R]]
    argument: A

    @property
    def name(self) -> str:
        """The activity's name (its function's, as `activity.defn` names it)."""
        return self.activity.__name__

    def start(self, options: ActivityOptions) -> ActivityHandle[R]:
        return options.start(self.activity, self.argument)

    async def execute(self, options: ActivityOptions) -> R:
        return await options.execute(self.activity, self.argument)
