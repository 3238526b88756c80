"""The stack's supervisor (stack/supervisor.py) as a service of the stack: `stack up` starts it
after everything else, `stack down` stops it before anything else."""

from __future__ import annotations

from dataclasses import dataclass

from stack.base import CliService
from stack.supervisor import READY


@dataclass(kw_only=True)
class SupervisorService(CliService):
    name: str = "supervisor"
    description: str = "restarts a service that crashed, with backoff (see `restarts`)"
    cli_args: tuple[str, ...] = ("stack", "supervise")
    ready: str = READY
