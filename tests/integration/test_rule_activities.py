"""The rule activities against the real Kafka: a rule set nobody applies (no job of that name
runs, as when the job stopped) times out with RULES_NOT_APPLIED, and the withdrawal the monitor
then publishes is the last record of the job's key, so a job that reads the topic later ends
on the rules in force (FraudMonitorWorkflow.withdraw_rules; the workflow's side is in
tests/workflows/test_fraud_monitor.py)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.fraud.rules import RuleActivities
from core.kafka import create_topic, read_to_end
from core.settings import Settings
from domain.fraud.monitor import ApplyRules, CepThresholds, PublishRules, RuleSet
from workflows.fraud.activities import RULES_NOT_APPLIED

pytestmark = pytest.mark.integration


def scheduled_now() -> ActivityEnvironment:
    """An activity environment whose activity was scheduled now (apply_rules reads the
    acknowledgements from a little before that)."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, scheduled_time=datetime.now(UTC))
    return environment


async def test_an_unanswered_rule_set_times_out_and_its_withdrawal_comes_last(
    stack, settings: Settings
) -> None:
    rules_topic = create_topic(settings, "fraud-rules")
    job_name = f"fraud-nobody-{uuid.uuid4().hex[:6]}"
    activities = RuleActivities(settings)
    unapplied = RuleSet(version=7, thresholds=CepThresholds(velocity_count=5))

    with pytest.raises(ApplicationError) as unanswered:
        await scheduled_now().run(
            activities.apply_rules,
            ApplyRules(
                job_name=job_name,
                rules_topic=rules_topic,
                rules_applied_topic=create_topic(settings, "fraud-rules-applied"),
                rules=unapplied,
                timeout=timedelta(seconds=2),
            ),
        )
    assert unanswered.value.type == RULES_NOT_APPLIED
    assert unanswered.value.non_retryable
    assert "did not say it applied rule set 7 within 2 s (0 subtasks did)" in str(unanswered.value)

    withdrawal = RuleSet(version=8, thresholds=CepThresholds())
    offset = await scheduled_now().run(
        activities.publish_rules,
        PublishRules(job_name=job_name, rules_topic=rules_topic, rules=withdrawal),
    )
    records = [
        RuleSet.model_validate_json(value)
        for key, value in read_to_end(settings, rules_topic)
        if key == job_name
    ]
    assert records == [unapplied, withdrawal]
    assert offset == 1  # the second record of the topic
