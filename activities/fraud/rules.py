"""Rule sets for the running fused detector: published on the rules topic, applied once every
subtask of the job says so on the rules-applied topic (jobs/flink/fused-detector
FusedDetector.java). Publishing the same version again is harmless: the job acknowledges the
version in force again, so a retried activity waits for the same answer."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from confluent_kafka import Consumer, Message, TopicPartition
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from core.kafka import consumer, producer
from core.settings import Settings
from domain.fraud.monitor import ApplyRules, PublishRules, RulesApplied, RulesInForce
from workflows.fraud import activities as declared
from workflows.fraud.activities import RULES_NOT_APPLIED, RULES_REFUSED

# acknowledgements are looked for from a little before the activity was first scheduled: a
# retry finds those its earlier attempt's publication brought
LOOK_BACK = timedelta(seconds=2)


class RuleActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @implements(declared.apply_rules)
    async def apply_rules(self, request: ApplyRules) -> RulesInForce:
        # both topics exist: the job's submission made them (submit_cep_job)
        since = activity.info().scheduled_time - LOOK_BACK
        acks = await asyncio.to_thread(self._acknowledgements_since, request, since.timestamp())
        try:
            await asyncio.to_thread(self._publish, request)
            return await self._wait_for_every_subtask(request, acks)
        finally:
            await asyncio.to_thread(acks.close)

    @implements(declared.publish_rules)
    async def publish_rules(self, request: PublishRules) -> int:
        return await asyncio.to_thread(self._publish, request)

    def _acknowledgements_since(self, request: ApplyRules, epoch_s: float) -> Consumer:
        reader = consumer(self.settings, f"rules-applied-{request.job_name}")
        topic = request.rules_applied_topic
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [TopicPartition(topic, p, int(epoch_s * 1000)) for p in partitions]
        # a partition with nothing that recent is read from its end (offset -1)
        reader.assign(reader.offsets_for_times(wanted, timeout=10))
        return reader

    def _publish(self, request: PublishRules) -> int:
        """The rule set's offset on the rules topic, once written."""
        writer = producer(self.settings, **{"enable.idempotence": True})
        written: list[Message] = []
        writer.produce(
            request.rules_topic,
            key=request.job_name.encode(),
            value=request.rules.model_dump_json().encode(),
            on_delivery=lambda error, message: written.append(message),
        )
        if writer.flush(10) > 0 or not written:
            raise RuntimeError(f"the rule set was not written to {request.rules_topic} in 10 s")
        error, offset = written[0].error(), written[0].offset()
        if error is not None or offset is None:
            raise RuntimeError(f"the rule set was not written to {request.rules_topic}: {error}")
        return offset

    async def _wait_for_every_subtask(self, request: ApplyRules, acks: Consumer) -> RulesInForce:
        version = request.rules.version
        applied: set[int] = set()
        deadline = time.monotonic() + request.timeout.total_seconds()
        while time.monotonic() < deadline:
            for message in await asyncio.to_thread(acks.consume, 100, 0.2):
                if message.error() is not None:
                    continue
                try:
                    ack = RulesApplied.model_validate_json(message.value() or b"")
                except ValidationError:
                    activity.logger.warning("unreadable acknowledgement dropped")
                    continue
                if ack.job_name != request.job_name or ack.version != version:
                    continue
                if not ack.accepted:
                    raise ApplicationError(
                        f"{ack.reason} (version {ack.in_force} stays in force)",
                        type=RULES_REFUSED,
                        non_retryable=True,
                    )
                applied.add(ack.subtask)
                if len(applied) == ack.subtasks:
                    return RulesInForce(version=version, subtasks=ack.subtasks)
            activity.heartbeat(len(applied))
        raise ApplicationError(
            f"the Flink job {request.job_name} did not say it applied rule set {version} within"
            f" {request.timeout.total_seconds():.0f} s ({len(applied)} subtasks did): is it"
            " running? The Flink UI and the monitor's `state` query show it",
            type=RULES_NOT_APPLIED,
            non_retryable=True,
        )
