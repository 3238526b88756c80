"""The worker entry point: connects, serves every task queue, stops cleanly on SIGTERM."""

import asyncio
import os
import signal
import sys
import uuid

from core.settings import Settings
from domain.smoke import SmokeInput
from workflows.smoke import SmokeWorkflow


async def test_worker_process_serves_and_stops_on_sigterm(stack, client) -> None:
    queue = f"test-worker-{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "worker",
        env={**os.environ, "HYBRID_ORDER_TASK_QUEUE": queue},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        result = await client.execute_workflow(
            SmokeWorkflow.run,
            SmokeInput(message="served by a worker process"),
            id=f"smoke-{queue}",
            task_queue=queue,
        )
        assert result.echo == "served by a worker process"
        process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"connected to Temporal at {Settings().temporal_address}" in output
    assert f"task queues: {queue}" in output
    assert output.index("shutting down") < output.index("worker stopped")
