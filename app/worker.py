"""The worker: every workflow and activity of the project, on its task queue.

Shuts down gracefully on SIGTERM/SIGINT: it stops polling, lets running activities finish for
a grace period, then exits; Temporal hands anything unfinished to the next worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.worker import Worker

from activities.smoke import SmokeActivities
from app.db.pool import open_pool
from app.settings import Settings
from app.temporal_client import connect
from workflows.smoke import SmokeWorkflow

log = logging.getLogger("worker")


@dataclass
class TaskQueueRegistration:
    workflows: list[type] = field(default_factory=list)
    activities: list[Any] = field(default_factory=list)


def registrations(settings: Settings, smoke: SmokeActivities) -> dict[str, TaskQueueRegistration]:
    return {
        settings.order_task_queue: TaskQueueRegistration(
            workflows=[SmokeWorkflow],
            activities=[smoke.record_smoke_run],
        ),
    }


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    stop = stop or _stop_on_signals()
    client = await connect(settings)
    pool = await open_pool(settings)
    try:
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=reg.workflows,
                activities=reg.activities,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            for queue, reg in registrations(settings, SmokeActivities(pool)).items()
        ]
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            log.info(
                "connected to Temporal at %s (namespace %s); task queues: %s",
                settings.temporal_address,
                settings.temporal_namespace,
                ", ".join(w.task_queue for w in workers),
            )
            log.info("worker ready")
            if ready is not None:
                ready.set()
            await stop.wait()
            log.info("shutting down: finishing running activities")
    finally:
        await pool.close()
    log.info("worker stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
