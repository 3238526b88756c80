"""The feature pipeline's boundary types: what an ETL run reads and wrote, training requests and
results, registry entries and alias changes, the engine jobs the workflows stop, and the
pipeline's own input and outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.names import KafkaName, ModelName, PathName


class Request(BaseModel):
    """What a workflow or an activity is given: an unknown field is a mistake, and refused."""

    model_config = ConfigDict(extra="forbid")


# --- the feature ETL ---------------------------------------------------------------------------


class PartitionRange(Request):
    partition: int = Field(ge=0)
    start_offset: int = Field(ge=0)
    end_offset: int = Field(ge=0)  # exclusive


class EtlPlan(Request):
    run_id: PathName
    topic: KafkaName
    ranges: list[PartitionRange]
    history_runs: list[str] = Field(
        default_factory=list, description="earlier runs of the topic: the windows' lookback"
    )

    @property
    def records(self) -> int:
        return sum(r.end_offset - r.start_offset for r in self.ranges)

    @property
    def submission_id(self) -> str:
        """The run's Spark application: one run, one application, however often asked for."""
        return f"features-{self.run_id}"


class EtlResult(BaseModel):
    run_id: str
    rows: int
    output: str
    already_committed: bool = False


class EtlRunRequest(Request):
    topic: KafkaName
    run_id: PathName


class EtlRunFailure(Request):
    run_id: PathName
    reason: str


# --- training and the registry -----------------------------------------------------------------

Alias = Literal["champion", "challenger", "previous"]


class HoldoutMetrics(BaseModel):
    pr_auc: float
    precision: float
    recall: float
    precision_at_budget: float
    recall_at_budget: float
    alert_budget: float
    rows: int
    positives: int


class ModelMetrics(BaseModel):
    """One model on the test period, as fraud teams judge it (domain/pipeline/metrics.py)."""

    auc_roc: float
    average_precision: float
    card_precision_at_k: float
    precision_at_budget: float
    recall_at_budget: float
    recall_by_scenario: dict[str, float] = Field(
        description="each scenario's frauds alerted within the budget"
    )


class EvaluationProtocol(BaseModel):
    """How the rows were split: training, a left-out delay (labels arrive late), the test
    period, with the rows of cards already known compromised on their test day removed."""

    train_start: datetime
    train_end: datetime
    delay_seconds: float
    delay_days_requested: float
    test_start: datetime
    test_end: datetime
    train_rows: int
    test_rows: int
    test_frauds: int
    known_card_rows_removed: int


BASELINE_MODELS = ("logistic_regression", "random_forest")
HEADLINE_METRICS = ("auc_roc", "average_precision", "card_precision_at_k")


class Evaluation(BaseModel):
    protocol: EvaluationProtocol
    k: int
    alert_budget_rows: int
    # "candidate", the baselines, and "champion" when there was one
    models: dict[str, ModelMetrics]

    @property
    def beats_baselines(self) -> bool:
        """The candidate at or above both baselines on each headline metric."""
        candidate = self.models["candidate"]
        return all(
            getattr(candidate, metric) >= getattr(self.models[name], metric)
            for name in BASELINE_MODELS
            if name in self.models
            for metric in HEADLINE_METRICS
        )


MODEL_NAME = Field(default="card-fraud", description="the registry's model name")


class ModelVersion(BaseModel):
    version_id: str
    model_name: str
    artifact_path: str
    metrics: HoldoutMetrics
    etl_run_ids: list[str]
    code_version: str
    training_job: str
    evaluation: Evaluation | None = None


class TrainingSettings(Request):
    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: int = Field(default=4, ge=1, le=8, description="hyperparameter candidates")
    holdout_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    alert_budget: float = Field(default=0.02, gt=0, le=1, description="share of txns alerted")
    card_k: int = Field(default=100, ge=1, le=100_000, description="card precision@k's k")


class TrainingRequest(Request):
    # `<model name>-<pipeline id>`: a directory of the model store
    version_id: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
    model_name: ModelName = MODEL_NAME
    topic: KafkaName
    etl_run_ids: list[str] = Field(min_length=1)
    champion: ModelVersion | None = None
    settings: TrainingSettings = TrainingSettings()

    @property
    def submission_id(self) -> str:
        """The version's Ray job: one version, one job, however often asked for."""
        return f"train-{self.version_id}"


class TrainingResult(BaseModel):
    version_id: str
    artifact: str
    metrics: HoldoutMetrics
    champion_metrics: HoldoutMetrics | None = None
    baseline_pr_auc: float
    best_params: dict[str, float | int]
    holdout_start: datetime
    training_seconds: float
    protocol: EvaluationProtocol | None = None  # None: trained before the protocol existed
    test_scores: str | None = None
    evaluation: Evaluation | None = None  # computed from test_scores by the activity


class AliasRef(Request):
    model_name: str
    alias: Alias


class AliasChange(BaseModel):
    change_id: str
    model_name: str
    before: dict[str, str]
    after: dict[str, str]


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: KafkaName = Field(default="transactions", description="the Kafka topic of transactions")
    model_name: ModelName = MODEL_NAME
    promotion_margin: float = Field(
        default=0.005, ge=-1, le=1, description="PR-AUC the challenger must gain to be promoted"
    )
    smoke_min_pr_auc: float = Field(
        default=0.5, ge=0, le=1.01, description="the new champion's least PR-AUC on the holdout"
    )
    training: TrainingSettings = TrainingSettings()


class PipelineDecision(StrEnum):
    PROMOTED = "PROMOTED"
    KEPT_CHAMPION = "KEPT_CHAMPION"


class PipelineResult(BaseModel):
    etl: EtlResult
    training: TrainingResult
    decision: PipelineDecision
    champion: str
    reason: str


class RegisterModel(Request):
    request: TrainingRequest
    result: TrainingResult


class MoveAliases(Request):
    model_name: str
    change_id: str
    reason: str
    updates: dict[str, str]


class SmokeCheck(Request):
    model_name: str
    expected_champion: str
    etl_run_ids: list[str]
    holdout_start: datetime
    min_pr_auc: float


class StopEngineJob(Request):
    """The Spark application or Ray job a cancelled workflow makes sure is stopped."""

    engine: Literal["spark", "ray"]
    submission_id: str
