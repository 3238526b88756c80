"""The feature ETL's plan and result: what a run reads and what it wrote."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PartitionRange(BaseModel):
    partition: int = Field(ge=0)
    start_offset: int = Field(ge=0)
    end_offset: int = Field(ge=0)  # exclusive


class EtlPlan(BaseModel):
    run_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    topic: str
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


class EtlRunRequest(BaseModel):
    topic: str
    run_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
