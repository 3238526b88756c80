"""The activities' PostgreSQL connection pool."""

from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.settings import Settings


class DatabaseUnavailable(RuntimeError):
    pass


async def open_pool(settings: Settings, max_size: int = 10) -> AsyncConnectionPool:
    """Connections in autocommit: a statement on its own commits at once (no BEGIN and COMMIT
    round trips around a single read or upsert), and every unit of several statements says so
    with `conn.transaction()`."""
    pool = AsyncConnectionPool(
        settings.postgres_dsn,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except PoolTimeout as exc:
        await pool.close()
        raise database_unavailable(settings) from exc
    return pool


def database_unavailable(settings: Settings) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"PostgreSQL is not reachable at {settings.postgres_dsn.split('@')[-1]}: start the "
        "local stack with `./hybrid stack up` or set HYBRID_POSTGRES_DSN"
    )
