"""Every workflow type, update and signal the worker registers, fed what a user may send by
mistake: no input, two inputs, null, the wrong type, an unknown field, empty, 10,000-character
and non-ASCII strings, boundary numbers.

The cases come from the worker's registrations and the workflows' definitions, so a new workflow,
update or signal is covered as soon as it is registered (it needs an example of a valid input
below, which the first test asks for). Whatever the input, nothing wedges: no workflow task
fails; a start the input cannot make sense of fails at once, an update is rejected, a signal is
refused and recorded; and the worker keeps serving. The activities are scripted (tests/support);
a dev server of its own."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contract import implements
from core.settings import Settings
from core.temporal import DATA_CONVERTER
from core.toolchain import venv_tool
from domain.fraud.monitor import MonitorRequest
from domain.orders.examples import an_order
from domain.orders.models import FraudDecision, OrderRequest, RepairRequest
from domain.pipeline.models import EtlRunRequest, PipelineRequest, TrainingRequest
from domain.smoke import SmokeInput, SmokeRecord, SmokeStored
from tests.support.scripted_fraud import ScriptedFlink
from tests.support.scripted_orders import SagaHarness, ScriptedBackend
from tests.support.scripted_pipeline import ScriptedRegistry
from tests.workflows.conftest import register_search_attributes
from worker.registrations import WORKFLOW_INTERCEPTORS, registrations
from workflows import smoke
from workflows.orders.noop_saga import noop_step

SETTINGS = Settings.model_construct()
# every workflow the worker serves, whatever its task queue
WORKFLOWS = [
    cls
    for registration in registrations(SETTINGS, None, None, None).values()  # type: ignore[arg-type]
    for cls in registration.workflows
]
FINAL_TYPES = {"InvalidInput", "ValidationError", "InvalidWorkflowId"}


def example_order() -> dict[str, Any]:
    return an_order().model_dump(mode="json")


# a valid input of each type a workflow takes, as the `temporal` CLI would send it
EXAMPLES: dict[Any, Any] = {
    OrderRequest: example_order,
    RepairRequest: lambda: {"order_id": f"ord-{uuid.uuid4().hex[:8]}"},
    SmokeInput: lambda: {"message": "hello"},
    MonitorRequest: lambda: {"job_name": f"fraud-cep-{uuid.uuid4().hex[:6]}"},
    PipelineRequest: lambda: {"topic": "transactions"},
    EtlRunRequest: lambda: {"topic": "transactions", "run_id": "etl-1"},
    TrainingRequest: lambda: {"version_id": "v1", "topic": "transactions", "etl_run_ids": ["r1"]},
    int: lambda: 3,
    str: lambda: "alert-router-fraud-alerts",
}
UPDATE_EXAMPLES: dict[str, Any] = {
    "decide_review": {"decision": "REJECT", "reviewer": "rita", "note": "checked"},
    "cancel": {"reason": "changed mind"},
    "update_thresholds": {"velocity_count": 9},
    "upgrade_job": {"reason": "fused detector with a new pattern"},
}
SIGNAL_EXAMPLES: dict[str, Any] = {
    "fraud_alert": {"alert_id": "a-1", "card_id": "card_visa_4242", "pattern": "card_testing"},
}


def definition(cls: type) -> Any:
    return workflow._Definition.must_from_class(cls)


def input_type(cls: type) -> Any:
    [kind] = definition(cls).arg_types
    return kind


# --- the inputs: structural cases, then each leaf of a valid example replaced ----------------


def structural(example: Any) -> Iterator[tuple[str, list[Any]]]:
    yield "no input", []
    yield "two inputs", [example, example]
    yield "null", [None]
    yield "the wrong type", ["twelve"] if isinstance(example, int) else [12345]
    if isinstance(example, dict):
        yield "an unknown field", [{**example, "no_such_field": 1}]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def replaced(example: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    changed = copy.deepcopy(example)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return changed


def mutations(example: Any) -> Iterator[tuple[str, list[Any]]]:
    for path, leaf in leaves(example):
        where = ".".join(map(str, path)) or "input"
        if isinstance(leaf, str):
            yield f"{where}: empty", [replaced(example, path, "")]
            yield f"{where}: 10,000 characters", [replaced(example, path, "x" * 10_000)]
            yield f"{where}: non-ASCII", [replaced(example, path, "ü€ 😀")]
        elif isinstance(leaf, int | float) and not isinstance(leaf, bool):
            for number in (-1, 0, 10**18, 1e308):
                yield f"{where}: {number}", [replaced(example, path, number)]


# --- the worker -------------------------------------------------------------------------------


@activity.defn(name="noop_step")
async def scripted_noop(step: int) -> int:
    return await noop_step(step)


@implements(smoke.record_smoke_run)
async def record_smoke_run(record: SmokeRecord) -> SmokeStored:
    return SmokeStored(attempts=1, created_at="2026-01-01T00:00:00Z", postgres_version="16")


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[SagaHarness]:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(venv_tool("temporal")),
        dev_server_log_level="error",
    )
    await register_search_attributes(env.client)
    orders = ScriptedBackend(decision=FraudDecision.REVIEW)  # a saga waits: updates, signals
    task_queue = f"bad-input-{uuid.uuid4().hex[:6]}"
    activities = [
        *orders.activities(),
        *ScriptedFlink().activities(),
        *ScriptedRegistry().activities(),
        record_smoke_run,
        scripted_noop,
    ]
    async with (
        env,
        Worker(
            env.client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=activities,
            interceptors=WORKFLOW_INTERCEPTORS,
        ),
    ):
        yield SagaHarness(env, orders, task_queue)


async def no_workflow_task_failed(handle: WorkflowHandle[Any, Any]) -> None:
    events = [event async for event in handle.fetch_history_events()]
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert failed == [], failed[0].workflow_task_failed_event_attributes.failure.message


async def started(
    served: SagaHarness, cls: type, args: list[Any]
) -> WorkflowHandle[Any, Any] | None:
    """The workflow started with `args` (None when Temporal itself refused the start)."""
    kind = definition(cls).name
    first = args[0] if args else None
    order_id = None
    if kind == "OrderSagaWorkflow" and isinstance(first, dict):
        order_id = first.get("order_id")  # an order runs under its own id
    try:
        return await served.client.start_workflow(
            kind,
            args=args,
            id=order_id if isinstance(order_id, str) else f"bad-{uuid.uuid4().hex[:10]}",
            task_queue=served.task_queue,
        )
    except RPCError:  # e.g. a workflow id longer than Temporal takes: refused at once too
        return None


async def outcome(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    """The status a moment after the start: a refused input has failed by then."""
    for _ in range(40):
        status = (await handle.describe()).status
        if status is not WorkflowExecutionStatus.RUNNING:
            return status
        await asyncio.sleep(0.05)
    return WorkflowExecutionStatus.RUNNING


async def test_every_workflow_input_type_has_an_example() -> None:
    missing = {input_type(cls) for cls in WORKFLOWS} - set(EXAMPLES)
    assert missing == set(), "add a valid example of each to EXAMPLES"
    handlers = {name for cls in WORKFLOWS for name in definition(cls).updates}
    assert handlers <= set(UPDATE_EXAMPLES)
    assert {name for cls in WORKFLOWS for name in definition(cls).signals} <= set(SIGNAL_EXAMPLES)


@pytest.mark.parametrize("cls", WORKFLOWS, ids=lambda cls: cls.__name__)
async def test_a_start_the_input_cannot_make_sense_of_fails_at_once(
    served: SagaHarness, cls: type
) -> None:
    example = EXAMPLES[input_type(cls)]()
    for case, args in structural(example):
        handle = await started(served, cls, args)
        assert handle is not None, case
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), 10)
        cause = failure.value.cause
        assert isinstance(cause, ApplicationError), case
        assert cause.type in FINAL_TYPES, (case, cause)
        assert cause.non_retryable, (case, cause)
        await no_workflow_task_failed(handle)


@pytest.mark.parametrize("cls", WORKFLOWS, ids=lambda cls: cls.__name__)
async def test_no_odd_value_of_any_field_wedges_a_start(served: SagaHarness, cls: type) -> None:
    example = EXAMPLES[input_type(cls)]()
    for case, args in mutations(example):
        handle = await started(served, cls, args)
        if handle is None:
            continue
        status = await outcome(handle)
        await no_workflow_task_failed(handle)
        if status is WorkflowExecutionStatus.RUNNING:
            await handle.terminate(f"case {case} over")
        elif status is WorkflowExecutionStatus.FAILED:
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            assert isinstance(failure.value.cause, ApplicationError), case
            assert failure.value.cause.non_retryable, case


async def running_instance(served: SagaHarness, cls: type) -> WorkflowHandle[Any, Any]:
    example = EXAMPLES[input_type(cls)]()
    handle = await started(served, cls, [example])
    assert handle is not None
    for _ in range(100):  # until it is waiting: the saga in review, the monitor watching
        events = [event async for event in handle.fetch_history_events()]
        if sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events) > 2:
            break
        await asyncio.sleep(0.05)
    return handle


UPDATABLE = [cls for cls in WORKFLOWS if definition(cls).updates]
SIGNALLED = [cls for cls in WORKFLOWS if definition(cls).signals]


@pytest.mark.parametrize("cls", UPDATABLE, ids=lambda cls: cls.__name__)
async def test_an_update_it_cannot_take_is_rejected_and_nothing_wedges(
    served: SagaHarness, cls: type
) -> None:
    handle = await running_instance(served, cls)
    for name in definition(cls).updates:
        example = UPDATE_EXAMPLES[name]
        for case, args in [*structural(example), *mutations(example)]:
            try:
                await asyncio.wait_for(handle.execute_update(name, args=args), 10)
            except WorkflowUpdateFailedError as refused:
                cause = refused.cause
                assert isinstance(cause, ApplicationError), (name, case)
                if case in dict(structural(example)):
                    assert cause.non_retryable, (name, case, cause)
                continue
            # taken (a valid value): it may be ending the workflow (a cancelled order), so the
            # next case goes to a new one
            await no_workflow_task_failed(handle)
            with contextlib.suppress(RPCError):
                await handle.terminate("update taken")
            handle = await running_instance(served, cls)
    await no_workflow_task_failed(handle)
    await handle.terminate("updates over")


@pytest.mark.parametrize("cls", SIGNALLED, ids=lambda cls: cls.__name__)
async def test_a_signal_it_cannot_take_is_refused_and_recorded(
    served: SagaHarness, cls: type
) -> None:
    handle = await running_instance(served, cls)
    cases = 0
    for name in definition(cls).signals:
        for _, args in structural(SIGNAL_EXAMPLES[name]):
            await handle.signal(name, args=args)
            cases += 1
    for _ in range(100):  # the step is in the workflow's state before its audit row is written
        steps = await handle.query("steps")
        refused = [step for step in steps if step["outcome"] == "refused"]
        if len(refused) == cases and served.backend.calls.count("record_refusal") >= cases:
            break
        await asyncio.sleep(0.05)
    assert len(refused) == cases
    assert all(step["detail"].startswith("signal ") for step in refused)
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    assert served.backend.calls.count("record_refusal") >= cases
    await no_workflow_task_failed(handle)
    await handle.terminate("signals over")


async def test_the_worker_still_serves(served: SagaHarness) -> None:
    result = await served.client.execute_workflow(
        "SmokeWorkflow",
        {"message": "still here"},
        id=f"smoke-{uuid.uuid4().hex[:6]}",
        task_queue=served.task_queue,
    )
    assert result["echo"] == "still here"
