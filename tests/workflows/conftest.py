"""Workflow tests: the real workflow code on Temporal's time-skipping test server, with the
activities replaced by scripted ones that record every call (tests/support/scripted_orders.py;
the activities themselves are tested against PostgreSQL in tests/integration)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.temporal import DATA_CONVERTER
from core.toolchain import venv_tool
from domain.orders.search_attributes import ALL as SEARCH_ATTRIBUTES
from tests.support.scripted_orders import SagaHarness, ScriptedBackend
from worker.registrations import WORKFLOW_INTERCEPTORS
from workflows.orders.order_saga import OrderSagaWorkflow


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(venv_tool("temporal-test-server")),
    )
    await register_search_attributes(environment.client)
    yield environment
    await environment.shutdown()


async def register_search_attributes(client: Client) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                for key in SEARCH_ATTRIBUTES
            },
        )
    )


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
async def saga(env: WorkflowEnvironment, backend: ScriptedBackend) -> AsyncIterator[SagaHarness]:
    task_queue = f"saga-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[OrderSagaWorkflow],
        interceptors=WORKFLOW_INTERCEPTORS,
        activities=backend.activities(),
    ):
        yield SagaHarness(env=env, backend=backend, task_queue=task_queue)
        backend.release.set()
