"""The activities the feature pipeline's workflows call: each one's name, input and result, the
contract with the worker that runs them (activities/pipeline/ implements every one). Declared
here rather than imported from activities/, because a workflow module imports no I/O code."""

from __future__ import annotations

from temporalio import activity

from domain.pipeline.models import (
    AliasChange,
    AliasRef,
    EtlPlan,
    EtlResult,
    EtlRunFailure,
    EtlRunRequest,
    ModelVersion,
    MoveAliases,
    RegisterModel,
    SmokeCheck,
    StopEngineJob,
    TrainingRequest,
    TrainingResult,
)


@activity.defn
async def plan_etl_run(request: EtlRunRequest) -> EtlPlan:
    """The run's Kafka offsets, recorded in PostgreSQL (or the unfinished run to finish)."""
    raise NotImplementedError


@activity.defn
async def run_etl_job(plan: EtlPlan) -> EtlResult:
    """Run (or attach to) the run's Spark application, heartbeating, until it ends."""
    raise NotImplementedError


@activity.defn
async def fail_etl_run(failure: EtlRunFailure) -> bool:
    """Mark the run FAILED, with why, so that the topic's next run plans afresh."""
    raise NotImplementedError


@activity.defn
async def feature_runs(topic: str) -> list[str]:
    """The topic's committed ETL runs that wrote rows, oldest first: the training data."""
    raise NotImplementedError


@activity.defn
async def run_training_job(request: TrainingRequest) -> TrainingResult:
    """Run (or attach to) the version's Ray job, heartbeating, until it ends."""
    raise NotImplementedError


@activity.defn
async def register_model_version(model: RegisterModel) -> ModelVersion:
    """The version in the registry, with its metrics and lineage; once."""
    raise NotImplementedError


@activity.defn
async def model_for_alias(ref: AliasRef) -> ModelVersion | None:
    """The version an alias points at, if any."""
    raise NotImplementedError


@activity.defn
async def move_aliases(move: MoveAliases) -> AliasChange:
    """Point aliases at versions in one recorded change; a change id is applied once."""
    raise NotImplementedError


@activity.defn
async def roll_back_alias_change(change_id: str) -> AliasChange | None:
    """Undo a recorded change (once); None when there was no such change."""
    raise NotImplementedError


@activity.defn
async def smoke_check_champion(check: SmokeCheck) -> float:
    """Load the registry's champion as the order saga does and score the holdout: its PR-AUC."""
    raise NotImplementedError


@activity.defn
async def stop_engine_job(request: StopEngineJob) -> None:
    """Stop a Spark application or Ray job that may have lost its supervising worker."""
    raise NotImplementedError
