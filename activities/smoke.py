"""The smoke activity: a PostgreSQL round trip, idempotent on the workflow id."""

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from activities.contract import implements
from domain.smoke import SmokeRecord, SmokeStored
from workflows import smoke as declared


class SmokeActivities:
    def __init__(self, pool: AsyncConnectionPool):
        self.pool = pool

    @implements(declared.record_smoke_run)
    async def record_smoke_run(self, record: SmokeRecord) -> SmokeStored:
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(SmokeStored))
            await cursor.execute(
                "insert into smoke_runs (workflow_id, message) values (%s, %s)"
                " on conflict (workflow_id) do update set attempts = smoke_runs.attempts + 1"
                " returning attempts, created_at,"
                " current_setting('server_version') as postgres_version",
                (record.workflow_id, record.message),
            )
            stored = await cursor.fetchone()
        if stored is None:  # an upsert always returns its row
            raise RuntimeError(f"smoke run {record.workflow_id} was not recorded")
        return stored
