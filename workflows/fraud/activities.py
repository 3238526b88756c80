"""The activities the fraud workflows call: each one's name, input and result, the contract with
the worker that runs them (activities/fraud/ implements every one). Declared here rather than
imported from activities/, because a workflow module imports no I/O code."""

from __future__ import annotations

from temporalio import activity

from domain.fraud.monitor import (
    ApplyRules,
    CancelJob,
    JobHandle,
    JobProgress,
    PublishRules,
    RouterProgress,
    RulesInForce,
    StopJob,
    SubmitCepJob,
    WatchJob,
)

# stop_with_savepoint's final error for a job that failed or was cancelled
JOB_NOT_RUNNING = "JobNotRunning"
# submit_job's final error when the cluster refuses the job itself (its SQL, its arguments)
CEP_JOB_REJECTED = "CepJobRejected"
# apply_rules' final errors: the job refused the rule set (the message is its reason), or did
# not say it applied it in time
RULES_REFUSED = "RulesRefused"
RULES_NOT_APPLIED = "RulesNotApplied"


@activity.defn
async def submit_job(request: SubmitCepJob) -> JobHandle:
    """Submit the CEP job, or attach to the running job of the same (deterministic) name. A job
    the running cluster refuses is CEP_JOB_REJECTED."""
    raise NotImplementedError


@activity.defn
async def watch_job(request: WatchJob) -> JobProgress:
    """Heartbeat the job's progress until it ends, the watch period is over, or Flink keeps
    restarting it (state RESTARTING)."""
    raise NotImplementedError


@activity.defn
async def stop_with_savepoint(request: StopJob) -> str:
    """Stop the job with a savepoint; returns its location (again, on a retry). A job that
    failed or was cancelled has none: JOB_NOT_RUNNING."""
    raise NotImplementedError


@activity.defn
async def cancel_job(request: CancelJob) -> str:
    """Cancel the job of that id and any job running under that name; returns the last state."""
    raise NotImplementedError


@activity.defn
async def apply_rules(request: ApplyRules) -> RulesInForce:
    """Publish a rule set on the rules topic and wait until every subtask of the fused job
    applied it (RULES_REFUSED with the job's reason, RULES_NOT_APPLIED after the timeout)."""
    raise NotImplementedError


@activity.defn
async def publish_rules(request: PublishRules) -> int:
    """Publish a rule set on the rules topic, without waiting for the job; returns its offset.
    A rule set that was not applied in time is withdrawn this way (the next version, with the
    rules in force)."""
    raise NotImplementedError


@activity.defn
async def route_alerts(group_id: str) -> RouterProgress:
    """Consume fraud alerts into PostgreSQL and the sagas of their cards, until cancelled."""
    raise NotImplementedError
