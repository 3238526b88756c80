"""The worker: every workflow and activity of the project, on its task queue.

Shuts down gracefully on SIGTERM/SIGINT: it stops polling, lets running activities finish for
a grace period, then exits; Temporal hands anything unfinished to the next worker."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import sys
from collections.abc import Collection
from datetime import timedelta

from temporalio.worker import Worker

from core.db.connections import open_pool
from core.errors import InvalidInput
from core.observability import metrics_runtime, tracing_interceptors
from core.settings import PROJECT_ROOT, Settings
from core.temporal import connect, temporal_target
from worker.registrations import WORKFLOW_INTERCEPTORS, registrations

log = logging.getLogger("worker")
# the folders of the code a worker runs
CODE_FOLDERS = ("activities", "core", "domain", "jobs", "worker", "workflows")


class UnknownTaskQueue(InvalidInput):
    pass


def worker_build_id() -> str:
    """What this worker runs: a hash of the project's code and of the locked libraries. Given
    to each Worker because the SDK's default hashes the bytecode of every imported module,
    compiling the ones that have no cache on the event loop (14 s on a fresh venv, measured)."""
    digest = hashlib.sha256()
    for folder in sorted(CODE_FOLDERS):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            digest.update(path.read_bytes())
    lock = PROJECT_ROOT / "requirements.lock"
    if lock.exists():
        digest.update(lock.read_bytes())
    return f"hybrid-{digest.hexdigest()[:16]}"


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    task_queues: Collection[str] = (),
) -> None:
    """Serve every task queue of the project, or only `task_queues` (e.g. the saga benchmark's
    worker, which must not take tasks of the stack's own fraud and pipeline workflows)."""
    configured = (
        settings.order_task_queue,
        settings.fraud_task_queue,
        settings.pipeline_task_queue,
    )
    unknown = sorted(set(task_queues) - set(configured))
    if unknown:
        raise UnknownTaskQueue(
            f"no such task queue: {', '.join(unknown)}",
            f"choose from the configured ones: {', '.join(configured)}",
        )
    # The workflow sandbox re-imports each workflow module for every new workflow run; without
    # bytecode caches (PYTHONDONTWRITEBYTECODE is common in containers and CI) every run pays
    # for compiling the module's source again.
    sys.dont_write_bytecode = False
    stop = stop or _stop_on_signals()
    # The tracing interceptor on the client also covers the workers built from it.
    client = await connect(settings, metrics_runtime(settings), tracing_interceptors(settings))
    async with contextlib.AsyncExitStack() as running:
        pool = await open_pool(settings, max_size=20)
        running.push_async_callback(pool.close)
        provider_pool = await open_pool(settings, max_size=10)
        running.push_async_callback(provider_pool.close)
        build_id = await asyncio.to_thread(worker_build_id)
        workers = [
            Worker(
                client,
                task_queue=queue,
                build_id=build_id,
                workflows=registration.workflows,
                activities=registration.activities,
                interceptors=WORKFLOW_INTERCEPTORS,
                max_concurrent_activities=50,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            for queue, registration in registrations(settings, client, pool, provider_pool).items()
            if not task_queues or queue in task_queues
        ]
        for worker in workers:
            await running.enter_async_context(worker)
        log.info(
            "connected to Temporal at %s; task queues: %s",
            temporal_target(settings),
            ", ".join(w.task_queue for w in workers),
        )
        if settings.metrics_bind_address:
            log.info("Prometheus metrics on http://%s/metrics", settings.metrics_bind_address)
        log.info("worker ready")
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down: finishing running activities")
    log.info("worker stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
