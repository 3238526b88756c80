"""How FraudMonitorWorkflow runs each of its activities: timeouts, heartbeats and retries."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.options import ActivityOptions

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
SUBMIT = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=3),
    retry_policy=RETRY,
    # a cancellation waits for the submission to end, so that the job it may have started is
    # there to be cancelled by name
    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
)
SAVEPOINT = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=5),
    heartbeat_timeout=timedelta(seconds=30),
    retry_policy=RETRY,
)
APPLY_RULES = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=1),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
)
# a withdrawal is one write to Kafka: a few attempts, then the Update says it failed
PUBLISH_RULES = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
)
CANCEL = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=2),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RETRY,
)


def watch_options(watch_period: timedelta) -> ActivityOptions:
    return ActivityOptions(
        start_to_close_timeout=watch_period + timedelta(minutes=5),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=RETRY,
    )
