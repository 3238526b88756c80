"""The smoke check: one workflow, one activity, PostgreSQL behind it."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SmokeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=200, description="echoed back by the workflow")


class SmokeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    message: str


class SmokeStored(BaseModel):
    attempts: int
    created_at: datetime
    postgres_version: str


class SmokeResult(BaseModel):
    workflow_id: str
    echo: str
    stored: SmokeStored
