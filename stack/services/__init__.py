"""The services of the local stack: the same programs the compose file runs, as local processes."""

from __future__ import annotations

from core.settings import Settings
from stack.base import Service
from stack.services.codec_server import CodecServer
from stack.services.flink import FlinkJobManager, FlinkTaskManager
from stack.services.kafka import Kafka
from stack.services.postgres import Postgres
from stack.services.ray import RayHead
from stack.services.supervisor import SupervisorService
from stack.services.temporal import Temporal
from stack.services.worker import Worker

__all__ = ["SupervisorService", "Worker", "infrastructure"]


def infrastructure(settings: Settings) -> list[Service]:
    """Every long-running service of the local stack, in start order."""
    return [
        Postgres(settings=settings),
        Temporal(settings=settings),
        Kafka(settings=settings),
        FlinkJobManager(settings=settings),
        FlinkTaskManager(settings=settings),
        RayHead(settings=settings),
        # only when payloads are encrypted: the Temporal UI then decodes through it
        *([CodecServer(settings=settings)] if settings.payload_keys.get_secret_value() else []),
    ]
