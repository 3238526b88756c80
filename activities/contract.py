"""`@implements(declared)`: an activity implementation that keeps its workflow's declaration.

The workflows declare the activities they call (workflows/*/activities.py: name, input, result).
An implementation says which declaration it implements; this checks, when the class is defined,
that it takes the same input and returns the same result, and registers it under the declared
name. A drifted copy of a contract fails at import, not in a running workflow.

It also makes the database's refusal of the data itself final: a value out of range, a
violated constraint (psycopg's DataError, IntegrityError) fails the same way on every attempt,
so the activity fails with a non-retryable `InvalidData` error instead of retrying for minutes.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from psycopg.errors import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.orders.models import BusinessError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class ContractMismatch(TypeError):
    pass


def implements(declared: Callable[..., Awaitable[Any]]) -> Callable[[F], F]:
    def register(implementation: F) -> F:
        want, got = _signature(declared), _signature(implementation)
        if want != got:
            raise ContractMismatch(
                f"{implementation.__qualname__} implements activity {declared.__name__}"
                f" {_show(want)}, but takes and returns {_show(got)}"
            )
        return activity.defn(name=declared.__name__)(_data_errors_final(implementation))

    return register


def _data_errors_final(implementation: F) -> F:
    @functools.wraps(implementation)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return await implementation(*args, **kwargs)
        except (DataError, IntegrityError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ApplicationError(
                f"the database refused the data: {first_line}",
                type=BusinessError.INVALID_DATA,
                non_retryable=True,
            ) from error

    return cast(F, run)


def _signature(function: Callable[..., Any]) -> tuple[list[Any], Any]:
    """The annotated parameters (a method's `self` left out) and the return annotation."""
    hints = typing.get_type_hints(function)
    parameters = [p for p in inspect.signature(function).parameters if p != "self"]
    return [hints.get(p) for p in parameters], hints.get("return")


def _show(signature: tuple[list[Any], Any]) -> str:
    parameters, result = signature
    return f"({', '.join(getattr(p, '__name__', str(p)) for p in parameters)}) -> {result}"
