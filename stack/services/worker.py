"""The Temporal worker of the project, as a service of the stack (`stack up --worker`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from stack.base import Service


@dataclass(kw_only=True)
class Worker(Service):
    name: str = "worker"
    description: str = "Temporal worker: all workflows and activities"

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli", "worker"]

    def healthy(self) -> bool:
        return "worker ready" in self.latest_log()
