"""Connecting to Temporal with the project's data converter (pydantic): the one way every
process (worker, CLI, demo, tests) gets a client."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from core.errors import ServiceUnavailable
from core.settings import Settings


class TemporalUnavailable(ServiceUnavailable):
    pass


async def connect(
    settings: Settings,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            runtime=runtime,
            interceptors=interceptors,
        )
    except (RuntimeError, RPCError) as exc:
        raise TemporalUnavailable(
            f"Temporal is not reachable at {settings.temporal_address} ({exc})",
            "start the local stack with `./hybrid stack up` or set HYBRID_TEMPORAL_ADDRESS",
        ) from exc
