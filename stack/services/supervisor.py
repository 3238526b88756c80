"""The stack's supervisor (stack/supervisor.py) as a service of the stack: `stack up` starts it
after everything else, `stack down` stops it before anything else."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from stack.base import Service
from stack.supervisor import READY


@dataclass(kw_only=True)
class SupervisorService(Service):
    name: str = "supervisor"
    description: str = "restarts a service that crashed, with backoff (see `restarts`)"

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli", "stack", "supervise"]

    def healthy(self) -> bool:
        return READY in self.latest_log()
