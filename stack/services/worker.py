"""The Temporal worker of the project, as a service of the stack (`stack up --worker`)."""

from __future__ import annotations

from dataclasses import dataclass

from stack.base import CliService


@dataclass(kw_only=True)
class Worker(CliService):
    name: str = "worker"
    description: str = "Temporal worker: all workflows and activities"
    cli_args: tuple[str, ...] = ("worker",)
    ready: str = "worker ready"
