"""The fraud workflows' activities, scripted for workflow tests: Flink jobs in memory, and an
alert router that waits to be cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from domain.fraud.monitor import (
    ApplyRules,
    CancelJob,
    CepThresholds,
    JobHandle,
    JobProgress,
    PublishRules,
    RouterProgress,
    RuleSet,
    RulesInForce,
    StopJob,
    SubmitCepJob,
    WatchJob,
)
from workflows.fraud import activities as declared

LIVE = ("RUNNING", "RECOVERING")  # a watch returns (changed) when the job goes between them


@dataclass
class ScriptedFlink:
    """Jobs in memory, by id, with the name they were submitted under; `hold_submission` keeps
        a submission in flight until the test releases it; `end_watch` makes the watch of a
        running job return, as at the end of a watch period; a job set RECOVERING (a TaskManager
    lost) and back ends a watch with `changed`; `refuses` says which thresholds the
        cluster rejects; `restarting` makes every watch report that Flink keeps restarting.
        Rule sets published live are kept in `rule_sets`; the job refuses one as the real one
        does, when card testing's small amount is not below its large one; with
        `rules_unanswered` the job never says it applied one (as a job that stopped), and what
        is published without waiting (a withdrawal) is kept in `rule_sets` too."""

    jobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, state)
    submissions: list[SubmitCepJob] = field(default_factory=list)
    cancellations: list[CancelJob] = field(default_factory=list)
    hold_submission: bool = False
    submitting: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    watching: asyncio.Event = field(default_factory=asyncio.Event)
    end_watch: asyncio.Event = field(default_factory=asyncio.Event)
    refuses: Callable[[CepThresholds], bool] = lambda thresholds: False
    restarting: bool = False
    rule_sets: list[RuleSet] = field(default_factory=list)
    rules_unanswered: bool = False

    def state(self, job_id: str) -> str:
        return self.jobs[job_id][1]

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @implements(declared.submit_job)
        async def submit_job(request: SubmitCepJob) -> JobHandle:
            if self.hold_submission:
                self.submitting.set()
                await self.release.wait()
            if self.refuses(request.spec.thresholds):
                raise ApplicationError(
                    "ValidationException: thresholds out of range",
                    type=declared.CEP_JOB_REJECTED,
                    non_retryable=True,
                )
            running = next(
                (
                    jid
                    for jid, (name, state) in self.jobs.items()
                    if name == request.spec.job_name and state == "RUNNING"
                ),
                None,
            )
            if running is not None:  # attach, as the real activity does
                return JobHandle(job_id=running, job_name=request.spec.job_name, attached=True)
            self.submissions.append(request)
            job_id = f"job-{len(self.submissions)}"
            self.jobs[job_id] = (request.spec.job_name, "RUNNING")
            return JobHandle(job_id=job_id, job_name=request.spec.job_name, attached=False)

        @implements(declared.watch_job)
        async def watch_job(request: WatchJob) -> JobProgress:
            self.watching.set()
            if self.restarting:
                await asyncio.sleep(0.2)
                return JobProgress(
                    job_id=request.job_id,
                    state="RESTARTING",
                    flink_restarts=request.report_after_restarts,
                    last_exception="org.apache.kafka: topic tx-missing does not exist",
                )
            # as the real watch does: from the state the monitor shows, when it says one
            started_as = request.reported_state or self.state(request.job_id)
            while self.state(request.job_id) == started_as in LIVE and not self.end_watch.is_set():
                activity.heartbeat()
                await asyncio.sleep(0.05)
            state = self.state(request.job_id)
            return JobProgress(
                job_id=request.job_id,
                state=state,
                changed=state != started_as and state in LIVE,
                interrupted=state != started_as and state == "RECOVERING",
                detail="Flink job RESTARTING, 0 of 3 tasks running; no TaskManager is registered"
                if state == "RECOVERING"
                else None,
            )

        @implements(declared.stop_with_savepoint)
        async def stop_with_savepoint(request: StopJob) -> str:
            name, state = self.jobs[request.job_id]
            if state != "RUNNING":  # as the real activity answers for a failed job
                raise ApplicationError(
                    f"job is {state}", type=declared.JOB_NOT_RUNNING, non_retryable=True
                )
            self.jobs[request.job_id] = (name, "FINISHED")
            return f"file:/savepoints/{request.job_id}"

        @implements(declared.cancel_job)
        async def cancel_job(request: CancelJob) -> str:
            self.cancellations.append(request)
            for job_id, (name, state) in self.jobs.items():
                if job_id == request.job_id or (name == request.job_name and state == "RUNNING"):
                    self.jobs[job_id] = (name, "CANCELED")
            return "CANCELED"

        @implements(declared.apply_rules)
        async def apply_rules(request: ApplyRules) -> RulesInForce:
            self.rule_sets.append(request.rules)
            thresholds = request.rules.thresholds
            if thresholds.card_testing_small >= thresholds.card_testing_large:
                raise ApplicationError(
                    "card_testing_small must be below card_testing_large",
                    type=declared.RULES_REFUSED,
                    non_retryable=True,
                )
            if self.rules_unanswered:
                raise ApplicationError(
                    "the Flink job did not say it applied the rule set within 30 s",
                    type=declared.RULES_NOT_APPLIED,
                    non_retryable=True,
                )
            return RulesInForce(version=request.rules.version, subtasks=1)

        @implements(declared.publish_rules)
        async def publish_rules(request: PublishRules) -> int:
            self.rule_sets.append(request.rules)
            return len(self.rule_sets) - 1

        @implements(declared.route_alerts)
        async def route_alerts(group_id: str) -> RouterProgress:
            while True:  # until cancelled, as the real one
                activity.heartbeat()
                await asyncio.sleep(0.1)

        return [
            submit_job,
            watch_job,
            stop_with_savepoint,
            cancel_job,
            apply_rules,
            publish_rules,
            route_alerts,
        ]
