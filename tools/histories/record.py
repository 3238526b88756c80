"""Recording workflow histories from real runs, for the replay tests.

`hybrid histories record` drives one order through each branch of the saga on the local stack
(PostgreSQL, the Temporal dev server, a worker of its own), runs the fraud monitor and the
feature pipeline through their outcomes, and stores each history under tests/histories/. The
replay tests replay every stored file with the worker's data converter, so a change to a
workflow that breaks determinism fails them. Keep the files of earlier workflow versions: they
prove that a patched workflow still replays the histories of runs started before the patch.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from core.settings import Settings
from core.temporal import connect
from tools.histories.feature_pipeline import record_pipelines
from tools.histories.fraud_monitor import (
    record_monitor,
    record_rule_changes,
    record_threshold_update,
)
from tools.histories.order_saga import BRANCHES, HISTORY_DIR, prepare_fixtures, record_branch
from worker.run import run_worker


async def record(settings: Settings, tag: str, only: list[str] | None = None) -> list[Path]:
    """Run each branch for real and store its history; returns the files written."""
    prepare_fixtures(settings.postgres_dsn)
    # a slow provider leaves time to cancel or alert while payment is in flight
    recording = settings.model_copy(
        update={
            "order_task_queue": f"record-histories-{uuid.uuid4().hex[:6]}",
            "payment_latency_ms": 400,
            "metrics_bind_address": "",  # the stack's worker may serve metrics already
            # the branches are the rules' decisions, whatever champion the demo promoted
            "fraud_model_name": "record-histories-no-model",
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(recording, stop, ready))
    await ready.wait()
    client = await connect(recording)
    HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for branch in BRANCHES:
            if only and branch.name not in only:
                continue
            written.append(await record_branch(client, recording, branch, tag))
        if not only or "fraud_monitor" in only:
            written += await record_monitor(client, recording, tag)
            written.append(await record_threshold_update(client, recording, tag))
            written += await record_rule_changes(client, recording, tag)
        if not only or "feature_pipeline" in only:
            written += await record_pipelines(client, recording, tag)
    finally:
        stop.set()
        await worker
    return written
