"""The feature ETL's activities: plan a run's Kafka offsets, run its Spark application."""

from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from activities.pipeline.engine_jobs import supervise
from core.errors import InvalidInput
from core.settings import Settings
from domain.pipeline.etl import (
    end_unfinished_run,
    features_application,
    plan_run,
    record_success,
)
from domain.pipeline.models import EtlPlan, EtlResult, EtlRunFailure, EtlRunRequest
from workflows.pipeline import activities as declared


class FeatureEtlActivities:
    def __init__(self, settings: Settings, pool: AsyncConnectionPool):
        self.settings = settings
        self.pool = pool

    @implements(declared.plan_etl_run)
    async def plan_etl_run(self, request: EtlRunRequest) -> EtlPlan:
        """The run's offset ranges, or those of an earlier run that never finished: a pipeline
        completes what a failed one left before reading anything new."""
        try:
            return await asyncio.to_thread(
                plan_run, self.settings, request.topic, request.run_id, adopt_unfinished=True
            )
        except InvalidInput as exc:  # unknown topic, or a run id used for another topic
            raise ApplicationError(str(exc), type="InvalidEtlRun", non_retryable=True) from exc

    @implements(declared.run_etl_job)
    async def run_etl_job(self, plan: EtlPlan) -> EtlResult:
        # in a thread: the first application of a stack resolves the Spark jars with Maven
        application = await asyncio.to_thread(features_application, self.settings, plan)
        summary = await supervise(application, self.pool)
        return await asyncio.to_thread(record_success, self.settings, plan, summary)

    @implements(declared.fail_etl_run)
    async def fail_etl_run(self, failure: EtlRunFailure) -> bool:
        return await asyncio.to_thread(
            end_unfinished_run, self.settings, failure.run_id, "FAILED", failure.reason
        )

    @implements(declared.feature_runs)
    async def feature_runs(self, topic: str) -> list[str]:
        """The topic's committed runs that wrote rows, oldest first: the training data."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "select run_id from etl_runs where topic = %s and status = 'SUCCEEDED'"
                " and rows_written > 0 order by planned_at",
                (topic,),
            )
            return [run_id for (run_id,) in await cursor.fetchall()]
