"""CPU time of the local stack's processes, from /proc: what a workload costs in the Temporal
server, a worker and PostgreSQL (each process with all its descendants)."""

from __future__ import annotations

import os
from pathlib import Path

from core.settings import Settings
from stack.launcher import Stack

CPU_SERVICES = ("temporal", "worker", "postgres")  # the processes a saga keeps busy
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) so far of each named process and all its descendants (a
    PostgreSQL server's backends, for one)."""
    if not roots:
        return {}
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    names = {root: name for name, root in roots.items()}

    def root_of(pid: int) -> str | None:
        while pid > 1 and pid not in names:
            pid = parents.get(pid, 0)
        return names.get(pid)

    seconds = dict.fromkeys(roots, 0.0)
    for pid, used in cpu.items():
        name = root_of(pid)
        if name is not None:
            seconds[name] += used
    return seconds


def stack_processes(settings: Settings) -> dict[str, int]:
    """The Temporal server's and PostgreSQL's processes, if this machine's stack runs them (a
    remote or compose stack is not measured)."""
    processes: dict[str, int] = {}
    for service in Stack(settings).select(["temporal", "postgres"]):
        process = service.recorded_process()
        if process is not None:
            processes[service.name] = process.pid
    return processes
