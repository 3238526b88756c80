"""Shared fixtures: the real local stack (once per session) and an in-process worker.

The stack is brought up once; services that were already running are reused and left running,
and only the services this session started are stopped at the end, once the orders the session
recorded are checked (invariants, nothing left open). A test during which the
in-process worker's event loop was blocked for more than a second fails (an async activity
doing blocking I/O starves every other activity and workflow of the worker)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from client.orders import check_orders
from core.settings import Settings, get_settings
from core.temporal import connect
from stack.launcher import Stack
from tests.support.worker import ThreadedWorker
from tools.seed import seed


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """The stack's settings, with no metrics port: a worker the demo left running holds the
    default one, and a test that needs metrics serves them on a port of its own."""
    return get_settings().model_copy(update={"metrics_bind_address": ""})


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Settings:
    """The stack's settings with task queues of this test session only, so that a worker left
    running by the demo never picks up a test's workflow."""
    suffix = uuid.uuid4().hex[:8]
    return base_settings.model_copy(
        update={
            "order_task_queue": f"test-orders-{suffix}",
            "fraud_task_queue": f"test-fraud-{suffix}",
            "pipeline_task_queue": f"test-pipeline-{suffix}",
            # the fraud screen must not use whatever champion the demo's registry holds
            "fraud_model_name": f"test-fraud-{suffix}",
        }
    )


@pytest.fixture(scope="session")
def stack(base_settings: Settings) -> Iterator[Stack]:
    """The stack, up for the session. At the end, the orders this session recorded must hold
    the saga's invariants, and none may be left open with no saga to close it."""
    launcher = Stack(base_settings)
    started = launcher.up()
    session_began = datetime.now(UTC)
    try:
        yield launcher
        health = asyncio.run(check_orders(base_settings, timedelta(0), since=session_began))
        assert health.healthy, f"after the tests: {health}"
    finally:
        launcher.down(started)


@pytest.fixture(scope="session")
def seeded(stack: Stack, base_settings: Settings) -> None:
    seed(base_settings.postgres_dsn)


@pytest.fixture(scope="session")
async def client(stack: Stack, settings: Settings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
def worker(stack: Stack, settings: Settings) -> Iterator[ThreadedWorker]:
    with ThreadedWorker(settings) as running:
        yield running


@pytest.fixture(autouse=True)
def _workers_ran_and_their_loops_never_blocked() -> Iterator[None]:
    """Fails the test during which an in-process worker stopped by itself or had its event loop
    blocked for more than a second."""
    yield
    problems = [problem for running in ThreadedWorker.RUNNING for problem in running.problems()]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
