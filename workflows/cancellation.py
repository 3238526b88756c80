"""Telling a workflow's cancellation apart from an activity's failure."""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError


def is_cancellation(error: BaseException) -> bool:
    """The workflow is being cancelled: raised directly, or by an activity or child workflow
    that was cancelled with it."""
    if isinstance(error, asyncio.CancelledError):
        return True
    return isinstance(error, ActivityError | ChildWorkflowError) and isinstance(
        error.cause, CancelledError
    )
