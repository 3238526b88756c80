"""The worker entry point: connects, serves every task queue, stops cleanly on SIGTERM, and
outlives the input that used to kill it."""

import asyncio
import signal
import sys
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from core.settings import Settings
from domain.smoke import SmokeInput
from tests.support.worker import worker_env
from workflows.fraud.alert_router import AlertRouterWorkflow
from workflows.smoke import SmokeWorkflow


async def worker_process(**settings: str) -> asyncio.subprocess.Process:
    """`hybrid worker` as a user starts it, with these settings; its output kept for the test."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "worker",
        env=worker_env(**settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_worker_process_serves_and_stops_on_sigterm(stack, client) -> None:
    queue = f"test-worker-{uuid.uuid4().hex[:8]}"
    process = await worker_process(order_task_queue=queue)
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


async def test_an_empty_consumer_group_fails_its_router_and_the_worker_serves_on(
    stack, client
) -> None:
    """The alert router with "" as its group aborted the worker process inside librdkafka, and
    again on every restart (the activity was redelivered), stalling every task queue."""
    suffix = uuid.uuid4().hex[:8]
    orders, fraud = f"test-worker-{suffix}", f"test-worker-fraud-{suffix}"
    process = await worker_process(
        order_task_queue=orders,
        fraud_task_queue=fraud,
        pipeline_task_queue=f"test-worker-pipeline-{suffix}",
    )
    try:
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(
                client.execute_workflow(
                    AlertRouterWorkflow.run, "", id=f"router-{suffix}", task_queue=fraud
                ),
                60,
            )
        cause = failure.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.non_retryable) == ("InvalidInput", True)
        assert "is not a Kafka consumer group" in cause.message
        result = await client.execute_workflow(
            SmokeWorkflow.run,
            SmokeInput(message="still serving"),
            id=f"smoke-{suffix}",
            task_queue=orders,
        )
        assert result.echo == "still serving"
        assert process.returncode is None
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), 30)
