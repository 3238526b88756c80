"""The demo's configuration and what it reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from core.errors import ActionableError
from domain.fraud.evaluation import Evaluation
from domain.fraud.generator import StreamStats
from domain.orders.models import OrderResult, OrderStatus
from domain.pipeline.models import PipelineResult

# what the story promises of the detector over the stream, overall: below it the demo fails
DETECTION_PROMISE = 0.9


class DemoStalled(ActionableError):
    """A part of the story did not happen in time: which, and where to look."""


class DemoConfig(BaseModel):
    orders: int = Field(default=16, ge=1, description="ordinary orders in the batch")
    attacked_cards: int = Field(default=3, ge=1, description="cards under attack during it")
    stream_rate: float = Field(default=200, gt=0, description="transactions per second")
    stream_seconds: float = Field(default=90, gt=0, description="length of the live stream")
    fraud_share: float = Field(default=0.02, ge=0, le=1, description="scenarios per event")
    # the merchants' fraud share is known a label delay (7 days) late, over windows of up to
    # 30 days: the live stream needs that much past for the merchant-risk features to work
    history_days: float = Field(
        default=40, ge=0, description="days of traffic before the live stream"
    )
    history_per_day: float = Field(default=2500, gt=0, description="charges a day in the history")
    seed: int = 7
    trials: int = Field(default=4, ge=1, description="hyperparameter candidates in training")
    promotion_margin: float = 0.005
    job_name: str = "fraud-cep"
    alert_timeout_s: float = Field(default=120, gt=0)
    catch_up_s: float = Field(
        default=300, gt=0, description="how long the detector may take to catch up"
    )


@dataclass
class ScoredOrder:
    order_id: str
    label: str
    status: OrderStatus
    model_version: str | None
    model_score: float | None


@dataclass
class DemoReport:
    run_id: str
    results: list[OrderResult] = field(default_factory=list)
    stream: StreamStats | None = None
    evaluation: Evaluation | None = None
    pipeline: PipelineResult | None = None
    models: list[tuple[str, float, float, str]] = field(default_factory=list)
    scored: list[ScoredOrder] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # (phase, seconds) in the order they ran
    phases: list[tuple[str, float]] = field(default_factory=list)

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(result.status.value for result in self.results)

    @property
    def compensations(self) -> Counter[str]:
        return Counter(c.compensation for result in self.results for c in result.compensations)

    def shortfalls(self) -> list[str]:
        """Where the run fell short of what the story promises: detection below
        DETECTION_PROMISE (a TaskManager that died, a job that fell behind)."""
        if self.evaluation is None:
            return []
        overall = self.evaluation.overall
        return [
            f"detection {name} {value:.3f} is below the story's {DETECTION_PROMISE}: is every"
            " Flink service up (`./hybrid stack status`) and the CEP job RUNNING (Flink UI)?"
            for name, value in (("precision", overall.precision), ("recall", overall.recall))
            if not value >= DETECTION_PROMISE  # NaN too: no alert at all
        ]
