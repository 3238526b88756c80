"""The options the pipeline's workflows run their short activities with: two minutes an
attempt, retried with backoff from 2 s to 30 s, without limit."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions

QUICK = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=30)
    ),
)
