"""Connections to PostgreSQL: the activities' async pool, and plain connections for the CLI and
the tools. Either way, a server that cannot be reached is a DatabaseUnavailable that says how to
start it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.errors import ServiceUnavailable
from core.settings import Settings


class DatabaseUnavailable(ServiceUnavailable):
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
        raise database_unavailable(settings.postgres_dsn) from exc
    return pool


def connect(dsn: str, **options: Any) -> psycopg.Connection:
    """A synchronous connection (blocking: not for the event loop)."""
    try:
        return psycopg.connect(dsn, **{"connect_timeout": 10, **options})
    except psycopg.OperationalError as exc:
        raise database_unavailable(dsn, exc) from exc


def database_unavailable(dsn: str, cause: Exception | None = None) -> DatabaseUnavailable:
    # the address and database only: the DSN's credentials stay out of messages
    where = dsn.split("@")[-1]
    detail = f" ({str(cause).strip().splitlines()[0]})" if cause and str(cause).strip() else ""
    return DatabaseUnavailable(
        f"PostgreSQL is not reachable at {where}{detail}",
        "start the local stack with `./hybrid stack up` or set HYBRID_POSTGRES_DSN",
    )
