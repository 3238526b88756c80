"""Temporal: a pydantic-typed workflow started from the `temporal` CLI with JSON input."""

import json
import subprocess
import uuid

import pytest
from temporalio.client import WorkflowFailureError

from core.settings import Settings
from core.toolchain import venv_tool
from domain.smoke import SmokeInput
from workflows.smoke import SmokeWorkflow

pytestmark = pytest.mark.usefixtures("worker")


def temporal_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(venv_tool("temporal")),
            *args,
            "--address",
            settings.temporal_address,
            "--namespace",
            settings.temporal_namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_starts_a_workflow_with_json_input(settings: Settings) -> None:
    workflow_id = f"smoke-cli-{uuid.uuid4().hex[:8]}"
    done = temporal_cli(
        settings,
        "workflow",
        "execute",
        "--type",
        "SmokeWorkflow",
        "--task-queue",
        settings.order_task_queue,
        "--workflow-id",
        workflow_id,
        "--input",
        json.dumps({"message": "from the temporal CLI"}),
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["result"]
    assert result["echo"] == "from the temporal CLI"
    assert result["workflow_id"] == workflow_id
    assert result["stored"]["attempts"] == 1
    assert result["stored"]["postgres_version"]


def test_invalid_json_input_fails_the_workflow_naming_the_field(settings: Settings) -> None:
    workflow_id = f"smoke-bad-{uuid.uuid4().hex[:8]}"
    done = temporal_cli(
        settings,
        "workflow",
        "execute",
        "--type",
        "SmokeWorkflow",
        "--task-queue",
        settings.order_task_queue,
        "--workflow-id",
        workflow_id,
        "--input",
        json.dumps({"message": ""}),
    )
    assert done.returncode != 0
    described = temporal_cli(settings, "workflow", "describe", "-w", workflow_id, "-o", "json")
    status = json.loads(described.stdout)["workflowExecutionInfo"]["status"]
    assert status == "WORKFLOW_EXECUTION_STATUS_FAILED"
    history = temporal_cli(settings, "workflow", "show", "-w", workflow_id, "-o", "json")
    failures = [
        e["workflowExecutionFailedEventAttributes"]["failure"]["message"]
        for e in json.loads(history.stdout)["events"]
        if "workflowExecutionFailedEventAttributes" in e
    ]
    assert len(failures) == 1
    assert "SmokeInput" in failures[0]
    assert "message" in failures[0]


async def test_client_round_trip_is_idempotent_per_workflow(client, settings: Settings) -> None:
    workflow_id = f"smoke-client-{uuid.uuid4().hex[:8]}"
    result = await client.execute_workflow(
        SmokeWorkflow.run,
        SmokeInput(message="typed"),
        id=workflow_id,
        task_queue=settings.order_task_queue,
    )
    assert result.echo == "typed"
    assert result.stored.attempts == 1


async def test_client_side_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="message"):
        SmokeInput(message="")


async def test_bad_input_through_the_client_fails_not_hangs(client, settings: Settings) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await client.execute_workflow(
            "SmokeWorkflow",
            {"message": "x" * 500},
            id=f"smoke-long-{uuid.uuid4().hex[:8]}",
            task_queue=settings.order_task_queue,
        )
    assert "message" in str(failure.value.cause)
