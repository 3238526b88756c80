"""The fraud monitor's boundary types: CEP thresholds, the job it owns, its progress."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class CepThresholds(BaseModel):
    """The CEP job's arguments (see jobs/flink/fraud_cep.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card_testing_small: float = Field(default=2.00, gt=0)
    card_testing_min_small: int = Field(default=3, ge=1)
    card_testing_large: float = Field(default=200.0, gt=0)
    card_testing_window_s: int = Field(default=120, gt=0)
    velocity_count: int = Field(default=8, ge=2)
    velocity_window_s: int = Field(default=60, gt=0)
    travel_min_km: float = Field(default=1000.0, gt=0)
    travel_max_kmh: float = Field(default=900.0, gt=0)
    travel_window_s: int = Field(default=3600, gt=0)
    escalation_factor: float = Field(default=2.0, gt=1)
    escalation_min_final: float = Field(default=500.0, gt=0)
    escalation_window_s: int = Field(default=180, gt=0)

    def arguments(self) -> list[str]:
        return [
            part
            for name, value in self.model_dump().items()
            for part in (f"--{name.replace('_', '-')}", str(value))
        ]


class MonitorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_name: str = Field(default="fraud-cep", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    source_topic: str = "transactions"
    alerts_topic: str = "fraud-alerts"
    dead_letter_topic: str = "transactions-dlq"
    startup_mode: str = Field(
        default="group-offsets", pattern="^(group-offsets|earliest-offset|latest-offset)$"
    )
    thresholds: CepThresholds = Field(default_factory=CepThresholds)
    poll_interval: timedelta = timedelta(seconds=2)
    # how long one run of the workflow watches before it continues as new (bounded history)
    watch_period: timedelta = timedelta(hours=1)
    max_restart_backoff: timedelta = timedelta(minutes=1)
    # carried across continue-as-new
    job_id: str | None = None
    restarts: int = 0
    savepoint: str | None = None


class SubmitJob(BaseModel):
    job_name: str
    script: str
    arguments: list[str]
    savepoint: str | None = None


class JobHandle(BaseModel):
    job_id: str
    job_name: str
    attached: bool  # True when an already-running job of that name was found


class WatchJob(BaseModel):
    job_id: str
    poll_interval: timedelta
    watch_period: timedelta


class JobProgress(BaseModel):
    job_id: str
    state: str
    checkpoints: int = 0
    last_checkpoint: str | None = None
    records_in: int = 0
    records_out: int = 0


class StopJob(BaseModel):
    job_id: str
    with_savepoint: bool = False


class CancelJob(BaseModel):
    job_name: str
    # None when no submission has returned yet; whatever runs under job_name is cancelled too:
    # a submission in flight when the workflow was cancelled started a job of unknown id
    job_id: str | None = None


class MonitorView(BaseModel):
    job_name: str
    job_id: str | None
    state: str
    thresholds: CepThresholds
    restarts: int
    progress: JobProgress | None
