"""What a workflow cannot take is refused at once, in words a person understands.

Temporal's Python SDK decodes a workflow's, an update's or a signal's arguments before any of
our code runs; a payload that fails pydantic's validation already fails the workflow (every
workflow lists ValidationError in `failure_exception_types`) or rejects the update. What it
does not catch is the wrong *number* of arguments (none at all, or two for one), and a JSON
null, which it hands over as None without validating it: the handler raises TypeError or
AttributeError, and the workflow task fails and is retried forever, wedging the workflow (a
signal sent with no payload froze an order that way). This interceptor checks them first:

    a workflow started with the wrong number of inputs   fails at once (InvalidInput)
        or with null for an input that is not optional
    an update with such arguments                         is rejected (InvalidInput)
    a signal with such arguments                          is refused: logged, counted in the
                                                          `workflow_messages_refused` metric, and
                                                          handed to the workflow's
                                                          `message_refused(name, reason)` when it
                                                          has one (the order saga records it)

Deterministic, no I/O: it runs in the workflow sandbox, on the worker and on the replayer alike.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

INVALID_INPUT = "InvalidInput"


def invalid_input(message: str) -> ApplicationError:
    """The failure for input no retry can fix: the workflow fails, or the update is rejected."""
    return ApplicationError(message, type=INVALID_INPUT, non_retryable=True)


class InputChecks(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _CountedArguments


class _CountedArguments(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        problem = arguments_problem(input.run_fn, input.args)
        if problem:
            raise invalid_input(f"{workflow.info().workflow_type} {problem}")
        return await super().execute_workflow(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        self._check_update(input)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._check_update(input)  # an update without a validator is checked only here
        return await super().handle_update_handler(input)

    def _check_update(self, input: HandleUpdateInput) -> None:
        problem = arguments_problem(_handler("update", input.update), input.args)
        if problem:
            raise invalid_input(f"update {input.update} {problem}")

    async def handle_signal(self, input: HandleSignalInput) -> None:
        problem = arguments_problem(_handler("signal", input.signal), input.args)
        if problem:
            await refuse(input.signal, f"signal {input.signal} {problem}")
            return
        await super().handle_signal(input)


def _handler(kind: str, name: str) -> Callable[..., Any] | None:
    """The function that handles the update or signal `name`, as defined (with `self`): the
    SDK's bound handlers of async methods take `(*args, **kwargs)`, which says nothing."""
    definition = workflow._Definition.must_from_class(type(workflow.instance()))
    handlers = definition.updates if kind == "update" else definition.signals
    handler = handlers.get(name)
    return handler.fn if handler is not None and handler.name is not None else None


def checked_init(init: Callable[..., None]) -> Callable[..., None]:
    """For a workflow's `@workflow.init` `__init__`, under that decorator: the SDK builds the
    workflow object before any interceptor runs, so the arguments are checked here too (an
    ApplicationError raised while the object is built fails the workflow, not the task)."""

    @functools.wraps(init)
    def checked(self: Any, *args: Any) -> None:
        problem = arguments_problem(init, args)
        if problem:
            raise invalid_input(f"{workflow.info().workflow_type} {problem}")
        init(self, *args)

    return checked


async def refuse(message: str, reason: str) -> None:
    """A message the workflow cannot act on: said where a person will see it (the log, a
    metric, and the workflow's own record of it when it keeps one)."""
    info = workflow.info()
    workflow.logger.warning("refused %s: %s", message, reason)
    workflow.metric_meter().create_counter(
        "workflow_messages_refused", "Signals a workflow refused, by workflow type and signal"
    ).add(1, {"workflow": info.workflow_type, "message": message})
    record = getattr(workflow.instance(), "message_refused", None)
    if callable(record):
        await record(message, reason)


def arguments_problem(function: Callable[..., Any] | None, args: Sequence[Any]) -> str | None:
    """What is wrong with `args` for `function` that its type's decoding lets through (their
    number; a JSON null where the parameter takes no None), or None (also for no function: a
    dynamic handler takes anything)."""
    if function is None:
        return None
    parameters, hints = _inputs(function)
    required = [p for p in parameters if p.default is p.empty]
    if not len(required) <= len(args) <= len(parameters):
        return f"takes {describe(parameters, hints)}, but was given {_count(len(args))}"
    for parameter, arg in zip(parameters, args, strict=False):
        hint = hints.get(parameter.name, Any)
        if arg is None and hint is not Any and not _accepts_none(hint):
            return f"takes {describe(parameters, hints)}, but was given null"
    return None


def _inputs(function: Callable[..., Any]) -> tuple[list[inspect.Parameter], dict[str, Any]]:
    """The positional parameters of a handler (without `self`) and its type hints. Not cached:
    the sandbox re-imports workflow modules for every run, so a cache would keep every run's."""
    parameters = [
        parameter
        for parameter in inspect.signature(function).parameters.values()
        if parameter.name != "self"
        and parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    return parameters, typing.get_type_hints(function)


def _accepts_none(hint: Any) -> bool:
    return hint is type(None) or type(None) in typing.get_args(hint)


def describe(parameters: list[inspect.Parameter], hints: dict[str, Any]) -> str:
    """Each input by its type, or by its name when the handler decodes it itself (RawValue)."""

    def named(parameter: inspect.Parameter) -> str:
        hint = hints.get(parameter.name)
        return parameter.name if hint in (None, RawValue) else getattr(hint, "__name__", str(hint))

    names = [named(parameter) for parameter in parameters]
    return f"{_count(len(parameters), 'input')} ({', '.join(names)})" if names else "no input"


def _count(number: int, noun: str = "argument") -> str:
    return "no " + noun + "s" if number == 0 else f"{number} {noun}{'s' if number > 1 else ''}"


def in_brief(error: BaseException) -> str:
    """One line a person can act on: for a pydantic ValidationError, each field and what is
    wrong with it (its first line only says how many errors there are)."""
    problems = getattr(error, "errors", None)
    if callable(problems):
        parts = [
            f"{'.'.join(map(str, problem['loc'])) or 'input'}: {problem['msg']}"
            for problem in problems()[:5]
        ]
        return "; ".join(parts)
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
