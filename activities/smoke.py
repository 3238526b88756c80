"""The smoke activity: a PostgreSQL round trip, idempotent on the workflow id."""

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

from domain.smoke import SmokeRecord, SmokeStored


class SmokeActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @activity.defn
    async def record_smoke_run(self, record: SmokeRecord) -> SmokeStored:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "insert into smoke_runs (workflow_id, message) values (%s, %s) "
                    "on conflict (workflow_id) do update set attempts = smoke_runs.attempts + 1 "
                    "returning attempts, created_at, current_setting('server_version')",
                    (record.workflow_id, record.message),
                )
            ).fetchone()
        assert row is not None
        return SmokeStored(attempts=row[0], created_at=row[1], postgres_version=row[2])
