"""FraudMonitorWorkflow: owns the Flink CEP job on the session cluster.

    submit the job (or attach to the running job of the same deterministic name)
    watch it through a heartbeating activity: state, checkpoints, records in/out
    when it fails: restart it, with exponential backoff
    when Flink keeps restarting it: report RESTARTING, with the job's last exception, cancel it
        and restart it as if it had failed (Flink alone would restart it forever)
    after each watch period: continue as new, carrying the job id; after many restarts too
        (bounded history)
    update `update_thresholds`, fused job: publish the next rule set version on the rules
        topic, answer once every subtask of the running job says it applied it (no restart);
        a rule set the job refuses fails the update with the job's reason, the old one stays;
        one it does not apply in time fails the update and is withdrawn (the rules in force
        are published after it, as the next version)
    update `update_thresholds`, SQL job; update `upgrade_job`, either: stop the job with a
        savepoint, restart it from there (with the new thresholds; with the current code),
        answer once it runs; when Flink refuses the new job, restore the old thresholds from
        the same savepoint and fail the update with the reason
    when the workflow is cancelled: cancel the Flink job, by id and by name (a submission in
        flight is waited for: its job's id is not known yet), then end cancelled

    while it runs: a job that stops processing (Flink restarts it, or its tasks wait for a
        TaskManager) is RECOVERING in the state, until it runs again; each time is counted

Query `state`: the job id, its state, the thresholds and their rule version, the restart and
interruption counts and the last progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.fraud.monitor import (
        ApplyRules,
        CancelJob,
        CepThresholds,
        JobHandle,
        JobProgress,
        JobUpgrade,
        LiveState,
        MonitorRequest,
        MonitorView,
        PublishRules,
        RuleSet,
        StopJob,
        SubmitCepJob,
        WatchJob,
    )
    from workflows.boundary import checked_init
    from workflows.cancellation import is_cancellation
    from workflows.fraud import activities as act
    from workflows.fraud.monitor_options import (
        APPLY_RULES,
        CANCEL,
        PUBLISH_RULES,
        SAVEPOINT,
        SUBMIT,
        watch_options,
    )

ENDED = ("FAILED", "CANCELED", "FINISHED")
LIVE = ("RUNNING", "RECOVERING")
# a run whose job keeps failing continues as new after this many events, whatever limits the
# server sets for its own suggestion
MAX_HISTORY_EVENTS = 2000
# rule sets live for the fused job: its update_thresholds no longer restarts it
LIVE_RULES = "live-rules"
# a rule set not applied in time is withdrawn: the rules in force follow it as the next version
WITHDRAW_UNAPPLIED_RULES = "withdraw-unapplied-rules"


def version_at(now: datetime) -> int:
    """A rule set's version: when it was made, in ms since the epoch (versions only grow)."""
    return int(now.timestamp() * 1000)


@workflow.defn(failure_exception_types=[ValidationError])
class FraudMonitorWorkflow:
    @workflow.init
    @checked_init
    def __init__(self, request: MonitorRequest) -> None:
        if request.rule_version == 0:
            # a new monitor's rules supersede whatever an earlier one left on the rules topic
            request = request.model_copy(update={"rule_version": version_at(workflow.now())})
        self.request = request
        self.job_id = request.job_id
        self.job_state = "SUBMITTING"
        self.restarts = request.restarts
        self.interruptions = request.interruptions
        self.last_interruption: str | None = None
        self.progress: JobProgress | None = None
        self.savepoint = request.savepoint
        self.new_thresholds: CepThresholds | None = None
        self.previous_thresholds: CepThresholds | None = None  # while a switch is in flight
        self.switch_error: str | None = None
        self.switches = 0
        self.rules_changing = False
        self.watch: ActivityHandle[JobProgress] | None = None

    @workflow.run
    async def run(self, request: MonitorRequest) -> None:
        try:
            while True:
                handle = await self.submit()
                if handle is None:
                    continue  # the new thresholds were refused: back to the old ones
                self.job_id, self.savepoint = handle.job_id, None
                shown = self.state_of_attached(handle)
                self.job_state = shown or "RUNNING"
                if workflow.cancellation_reason() is not None:
                    # cancelled while submitting: the submission completed, its job must stop
                    raise asyncio.CancelledError()
                progress = await self.watch_while_it_runs(handle.job_id, shown)
                if isinstance(progress, CepThresholds):
                    # accepted: applied even when the watch ended in the same activation (it
                    # must never be lost to a continue-as-new or a restart)
                    await self.switch_thresholds(handle.job_id, progress)
                    continue
                self.progress = progress
                if progress.state == "RESTARTING":
                    await self.take_over_restarts(handle.job_id, progress)
                elif progress.state not in ENDED:
                    await self.continue_as_new(job_id=self.job_id)
                await self.back_off()
                if workflow.info().is_continue_as_new_suggested() or (
                    workflow.info().get_current_history_length() > MAX_HISTORY_EVENTS
                ):
                    await self.continue_as_new(job_id=None)  # a job that keeps failing: bounded too
        except (asyncio.CancelledError, ActivityError) as error:
            if not is_cancellation(error):
                raise
            if self.watch is not None and not self.watch.done():
                self.watch.cancel()
            # shielded: the workflow is being cancelled, the Flink job must still stop
            cancel = CancelJob(job_name=request.job_name, job_id=self.job_id)
            self.job_state = await asyncio.shield(
                asyncio.ensure_future(CANCEL.execute(act.cancel_job, cancel))
            )
            raise

    @workflow.update
    async def update_thresholds(self, thresholds: CepThresholds) -> MonitorView:
        """Change the thresholds. The fields given replace the current ones; fields left out of
        the input keep their current values (a client that sends a whole CepThresholds replaces
        them all). The fused job takes them live, as the next rule set version; the SQL job is
        stopped with a savepoint and restarted from there with them: the restored offsets and
        CEP state mean no alert is lost, and the savepoint flushes the sink so none is sent
        twice."""
        given = thresholds.model_dump(include=thresholds.model_fields_set)
        wanted = self.request.thresholds.model_copy(update=given)
        if self.request.engine == "fused" and workflow.patched(LIVE_RULES):
            return await self.apply_rules(wanted)
        return await self.restart_from_savepoint(wanted)

    @update_thresholds.validator
    def validate_thresholds(self, thresholds: CepThresholds) -> None:
        self.check_ready_for_a_change()

    @workflow.update
    async def upgrade_job(self, upgrade: JobUpgrade) -> MonitorView:
        """Stop the job with a savepoint and submit it again from there, as the worker's code
        builds it now (a new version of the detector): its card state, offsets and rules carry
        over (every operator has a uid)."""
        workflow.logger.info("upgrading Flink job %s: %s", self.job_id, upgrade.reason)
        return await self.restart_from_savepoint(self.request.thresholds)

    @upgrade_job.validator
    def validate_upgrade(self, upgrade: JobUpgrade) -> None:
        self.check_ready_for_a_change()

    def check_ready_for_a_change(self) -> None:
        if self.new_thresholds is not None or self.rules_changing:
            raise ValueError("a change of thresholds or an upgrade is already in progress")
        if self.job_state != "RUNNING":
            raise ValueError(f"the CEP job is {self.job_state}: retry once it runs")

    async def apply_rules(self, thresholds: CepThresholds) -> MonitorView:
        """Publish the thresholds as the next rule set version; answer once the running job
        applied it, or fail with its reason (the version in force stays)."""
        version = max(self.request.rule_version + 1, version_at(workflow.now()))
        request = ApplyRules(
            job_name=self.request.job_name,
            rules_topic=self.request.rules_topic,
            rules_applied_topic=self.request.rules_applied_topic,
            rules=RuleSet(version=version, thresholds=thresholds),
        )
        self.rules_changing = True
        try:
            applied = await APPLY_RULES.execute(act.apply_rules, request)
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == act.RULES_REFUSED:
                raise ApplicationError(
                    f"the job refused rule set {version}: {cause}",
                    type="ThresholdsRefused",
                    non_retryable=True,
                ) from error
            withdrawn = ""
            if workflow.patched(WITHDRAW_UNAPPLIED_RULES):
                withdrawn = await self.withdraw_rules(version)
            raise ApplicationError(
                f"rule set {version} was not applied: {cause}{withdrawn}",
                type=act.RULES_NOT_APPLIED,
                non_retryable=True,
            ) from error
        finally:
            self.rules_changing = False
        self.request = self.request.model_copy(
            update={"thresholds": thresholds, "rule_version": applied.version}
        )
        workflow.logger.info("rule set %d in force on %d subtasks", version, applied.subtasks)
        return self.state()

    async def withdraw_rules(self, version: int) -> str:
        """A job that did not apply rule set `version` in time (stopped, restarting, lagging)
        may still read it later: publish the rules in force after it, as the next version, so
        that the job ends on what `state` says whenever it reads the topic. Says what it did."""
        withdrawal = RuleSet(version=version + 1, thresholds=self.request.thresholds)
        publish = PublishRules(
            job_name=self.request.job_name, rules_topic=self.request.rules_topic, rules=withdrawal
        )
        try:
            offset = await PUBLISH_RULES.execute(act.publish_rules, publish)
        except ActivityError as error:
            return (
                f"; withdrawing it failed too ({error.cause}): the job applies rule set"
                f" {version} if it reads it, and `state` shows version {self.request.rule_version}"
            )
        self.request = self.request.model_copy(update={"rule_version": withdrawal.version})
        return (
            f"; withdrawn: rule set {withdrawal.version} (the thresholds in force) follows it on"
            f" {self.request.rules_topic} (offset {offset})"
        )

    async def restart_from_savepoint(self, thresholds: CepThresholds) -> MonitorView:
        """The main loop stops the job with a savepoint and submits it from there with
        `thresholds`; answered once the new job runs, or failed with Flink's refusal."""
        switches = self.switches
        self.new_thresholds = thresholds
        await workflow.wait_condition(
            lambda: (
                self.switches > switches
                and (self.job_state == "RUNNING" or self.switch_error is not None)
            )
        )
        if self.switch_error is not None:
            error, self.switch_error = self.switch_error, None
            raise ApplicationError(error, type="ThresholdsRefused", non_retryable=True)
        return self.state()

    @workflow.query(name="state")
    def state(self) -> MonitorView:
        return MonitorView(
            job_name=self.request.job_name,
            job_id=self.job_id,
            state=self.job_state,
            thresholds=self.request.thresholds,
            rule_version=self.request.rule_version,
            restarts=self.restarts,
            interruptions=self.interruptions,
            last_interruption=self.last_interruption,
            progress=self.progress,
        )

    # --- the job's lifecycle -------------------------------------------------------------------

    async def submit(self) -> JobHandle | None:
        """Submit the job (or attach to it). When Flink refuses a job whose thresholds an update
        brought, the previous thresholds come back, to be submitted from the same savepoint,
        and None says so; refused without an update to undo, the monitor fails."""
        spec = SubmitCepJob(spec=self.request.job_spec(), savepoint=self.savepoint)
        try:
            handle = await SUBMIT.execute(act.submit_job, spec)
        except ActivityError as error:
            cause = error.cause
            refused = isinstance(cause, ApplicationError) and cause.type == act.CEP_JOB_REJECTED
            if not refused or self.previous_thresholds is None:
                raise
            self.switch_error = f"Flink refused the new thresholds, which are undone: {cause}"
            self.request = self.request.model_copy(update={"thresholds": self.previous_thresholds})
            self.previous_thresholds = None
            return None
        self.previous_thresholds = None
        return handle

    def watch_ended_or_update_accepted(self) -> bool:
        return (self.watch is not None and self.watch.done()) or self.new_thresholds is not None

    def state_of_attached(self, handle: JobHandle) -> LiveState | None:
        """The state shown for a job this monitor attached to: the previous run's, for the job
        it carried over; RUNNING otherwise. None for a job just submitted (its tasks may still be
        deploying)."""
        if not handle.attached:
            return None
        if handle.job_id == self.request.job_id and self.request.job_state is not None:
            return self.request.job_state
        return "RUNNING"

    def record_change(self, progress: JobProgress) -> None:
        """The job stopped processing (Flink restarts it, or its tasks wait for a TaskManager;
        or it did between two polls, and runs again) or runs again: said in the state, the
        log and the count of interruptions."""
        if progress.interrupted:
            self.interruptions += 1
            self.last_interruption = f"{workflow.now():%Y-%m-%d %H:%M:%S} UTC: {progress.detail}"
            workflow.logger.warning(
                "Flink job %s is not processing: %s", progress.job_id, progress.detail
            )
        else:
            workflow.logger.info("Flink job %s is %s again", progress.job_id, progress.state)

    def start_watching(
        self,
        job_id: str,
        restarts_counted_from: int | None = None,
        reported_state: LiveState | None = None,
    ) -> ActivityHandle[JobProgress]:
        watch = WatchJob(
            job_id=job_id,
            restarts_counted_from=restarts_counted_from,
            reported_state=reported_state,
            poll_interval=self.request.poll_interval,
            watch_period=self.request.watch_period,
        )
        return watch_options(self.request.watch_period).start(act.watch_job, watch)

    async def watch_while_it_runs(
        self, job_id: str, reported_state: LiveState | None
    ) -> JobProgress | CepThresholds:
        """Watch the job until it ends or the watch period is over (its last progress), or
        until an update brings new thresholds (them); changes between RUNNING and RECOVERING
        are recorded on the way, and the watch goes on from the state it shows."""
        counted_from: int | None = None
        while True:
            self.watch = watch = self.start_watching(job_id, counted_from, reported_state)
            await workflow.wait_condition(self.watch_ended_or_update_accepted)
            if self.new_thresholds is not None:
                return self.new_thresholds
            progress = await watch
            self.job_state = progress.state
            if not progress.changed:
                return progress
            self.progress = progress
            self.record_change(progress)
            counted_from = progress.restarts_counted_from
            reported_state = "RECOVERING" if progress.state == "RECOVERING" else "RUNNING"

    async def switch_thresholds(self, job_id: str, thresholds: CepThresholds) -> None:
        """The next submission runs with `thresholds`: from a savepoint of the running job, or
        as a restart from its committed offsets when the job ended meanwhile (its end can
        arrive in the same workflow task as the update)."""
        watch = self.watch
        if watch is not None and not watch.done():
            watch.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):  # cancelled: it runs
            if watch is not None:
                self.progress = await watch
                self.job_state = self.progress.state
        savepoint = None
        if self.job_state not in ENDED:
            self.job_state = "SAVEPOINTING"
            savepoint = await self.take_savepoint(job_id)
        if savepoint is None:
            self.restarts += 1
        self.savepoint = savepoint
        self.previous_thresholds = self.request.thresholds
        self.request = self.request.model_copy(update={"thresholds": thresholds})
        self.new_thresholds = None
        self.switches += 1

    async def take_savepoint(self, job_id: str) -> str | None:
        """The savepoint's location; None when the job is no longer running."""
        try:
            return await SAVEPOINT.execute(
                act.stop_with_savepoint, StopJob(job_id=job_id, with_savepoint=True)
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == act.JOB_NOT_RUNNING:
                return None
            raise

    async def take_over_restarts(self, job_id: str, progress: JobProgress) -> None:
        """Flink keeps restarting the job (a topic that does not exist, a broker gone): said in
        the state (RESTARTING), the log and the job-state metric; then the job is cancelled, to
        be resubmitted after the monitor's own back-off, which grows to max_restart_backoff,
        instead of Flink's restarts, which would go on forever."""
        workflow.logger.warning(
            "Flink keeps restarting job %s (%d restarts): %s",
            job_id,
            progress.flink_restarts,
            progress.last_exception,
        )
        await CANCEL.execute(
            act.cancel_job, CancelJob(job_name=self.request.job_name, job_id=job_id)
        )

    async def continue_as_new(self, job_id: str | None) -> NoReturn:
        # a rule change in flight is answered first: its caller waits for it, and its version
        # goes over to the next run
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self.request.model_copy(
                update={
                    "job_id": job_id,
                    "restarts": self.restarts,
                    "interruptions": self.interruptions,
                    "job_state": self.job_state if self.job_state in LIVE else None,
                }
            )
        )

    async def back_off(self) -> None:
        """The job ended: wait 2^restarts seconds (at most max_restart_backoff) before the next
        submission."""
        self.restarts += 1
        backoff = min(
            timedelta(seconds=2 ** min(self.restarts, 10)), self.request.max_restart_backoff
        )
        workflow.logger.warning(
            "Flink job %s is %s: restart %d in %s",
            self.job_id,
            self.job_state,
            self.restarts,
            backoff,
        )
        await workflow.sleep(backoff)
