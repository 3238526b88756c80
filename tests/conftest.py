"""Shared fixtures: the real local stack (once per session) and an in-process worker.

The stack is brought up once; services that were already running are reused and left running,
and only the services this session started are stopped at the end."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from temporalio.client import Client

from core.settings import Settings, get_settings
from core.temporal import connect
from stack.launcher import Stack
from tools.seed import seed
from worker.run import run_worker


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return get_settings()


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
            # the demo's worker may hold the metrics port; the demo test serves its own
            "metrics_bind_address": "",
        }
    )


@pytest.fixture(scope="session")
def stack(base_settings: Settings) -> Iterator[Stack]:
    launcher = Stack(base_settings)
    started = launcher.up()
    yield launcher
    launcher.down(started)


@pytest.fixture(scope="session")
def seeded(stack: Stack, base_settings: Settings) -> None:
    seed(base_settings.postgres_dsn)


@pytest.fixture(scope="session")
async def client(stack: Stack, settings: Settings) -> Client:
    return await connect(settings)


class ThreadedWorker:
    """The real worker on its own thread and event loop, so that synchronous tests (which block
    the test loop, e.g. while the `temporal` CLI runs) never starve it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.started = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-worker", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop, ready = asyncio.Event(), asyncio.Event()
            ready_waiter = asyncio.create_task(ready.wait())
            ready_waiter.add_done_callback(lambda _: self.started.set())
            await run_worker(self.settings, self.stop, ready)

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.failure = exc
            self.started.set()

    def __enter__(self) -> ThreadedWorker:
        self.thread.start()
        self.started.wait(60)
        if self.failure is not None:
            raise self.failure
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture(scope="session")
def worker(stack: Stack, settings: Settings) -> Iterator[ThreadedWorker]:
    with ThreadedWorker(settings) as running:
        yield running
