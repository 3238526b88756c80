"""Connecting to Temporal with the project's data converter: the one way every process (worker,
CLI, demo, tests) gets a client, and the converter the replayer must use too.

The converter is Temporal's pydantic one, with one change: a pydantic ValidationError (input
that does not fit its model) becomes a non-retryable failure, because no retry can fix what the
caller sent; otherwise an update refused for a bad argument would say `retryable: true`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pydantic import ValidationError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.failure.v1 import Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadConverter
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from core.codec import EncryptionCodec, parse_keys
from core.errors import InvalidInput, ServiceUnavailable
from core.settings import Settings


class TemporalUnavailable(ServiceUnavailable):
    pass


class InvalidInputIsFinal(DefaultFailureConverter):
    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        if isinstance(exception, ValidationError):
            final = ApplicationError(str(exception), type="ValidationError", non_retryable=True)
            final.__traceback__ = exception.__traceback__
            exception = final
        super().to_failure(exception, payload_converter, failure)


DATA_CONVERTER = dataclasses.replace(
    pydantic_data_converter, failure_converter_class=InvalidInputIsFinal
)


def data_converter(settings: Settings) -> DataConverter:
    """The project's converter, encrypting payloads when keys are configured (core/codec.py)."""
    keys = parse_keys(settings.payload_keys.get_secret_value())
    if not keys:
        return DATA_CONVERTER
    return dataclasses.replace(DATA_CONVERTER, payload_codec=EncryptionCodec(keys))


def connect_config(settings: Settings) -> ClientConnectConfig:
    """Where and how to connect, the way Temporal's SDKs and CLI read it: the profile of
    temporal.toml that TEMPORAL_PROFILE names (default `default`; TEMPORAL_CONFIG_FILE moves the
    file), then the TEMPORAL_* variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS_*). HYBRID_TEMPORAL_ADDRESS and HYBRID_TEMPORAL_NAMESPACE, where set, win; what
    neither gives is the local stack's (localhost:7233, `default`)."""
    try:
        config = ClientConfig.load_client_connect_config()
    except (RuntimeError, ValueError, OSError) as exc:
        raise InvalidInput(
            f"Temporal's client configuration cannot be read ({exc})",
            "check TEMPORAL_CONFIG_FILE / temporal.toml and the TEMPORAL_* variables",
        ) from exc
    given = settings.model_fields_set
    if "temporal_address" in given or "target_host" not in config:
        config["target_host"] = settings.temporal_address
    if "temporal_namespace" in given or "namespace" not in config:
        config["namespace"] = settings.temporal_namespace
    return config


def temporal_target(settings: Settings) -> str:
    """The address and namespace connect() uses, for messages."""
    config = connect_config(settings)
    tls = " over TLS" if config.get("tls") else ""
    return f"{config['target_host']}{tls} (namespace {config['namespace']})"


async def connect(
    settings: Settings,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    config = connect_config(settings)
    try:
        return await Client.connect(
            **config,
            data_converter=data_converter(settings),
            runtime=runtime,
            interceptors=interceptors,
        )
    except (RuntimeError, RPCError) as exc:
        raise TemporalUnavailable(
            f"Temporal is not reachable at {config['target_host']} ({exc})",
            "start the local stack with `./hybrid stack up`, or set HYBRID_TEMPORAL_ADDRESS"
            " (or the SDK's TEMPORAL_ADDRESS, a temporal.toml profile) to your cluster",
        ) from exc


async def require_worker(client: Client, task_queue: str) -> None:
    """Fail now, saying how to start one, rather than wait in silence for a worker that never
    comes. The server remembers pollers for a few minutes, so a worker that has just stopped
    still counts."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    if not described.pollers:
        raise ServiceUnavailable(
            f"no worker polls the task queue {task_queue!r}",
            "start one with `./hybrid stack up --worker`",
            subject="worker",
        )
