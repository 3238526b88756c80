"""How long the CLI takes to answer: each command run as a user runs it (a new process through
the venv's entry point), several times, the median and the slowest printed, with the time
Python alone takes to start as the floor nothing can go under."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from core.settings import PROJECT_ROOT

# commands that answer from the CLI alone, or after one call to Temporal or PostgreSQL
COMMANDS = [
    ["--help"],
    ["pipeline", "--help"],
    ["pipeline", "schedule", "show"],
    ["orders", "check"],
    ["stack", "status"],
]


@dataclass
class Timing:
    command: str
    seconds: list[float]
    exit_codes: set[int]


@dataclass
class CliReport:
    floor_s: float
    timings: list[Timing]

    def lines(self) -> list[str]:
        lines = [
            f"{'command':<32} {'median s':>9} {'max s':>7}  exit",
            f"{'(python -c pass)':<32} {self.floor_s:>9.2f} {'':>7}",
        ]
        for timing in self.timings:
            codes = ",".join(str(code) for code in sorted(timing.exit_codes))
            lines.append(
                f"{timing.command:<32} {statistics.median(timing.seconds):>9.2f}"
                f" {max(timing.seconds):>7.2f}  {codes}"
            )
        return lines


def timed(argv: list[str]) -> tuple[float, int]:
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, cwd=PROJECT_ROOT, check=False)
    return time.perf_counter() - began, done.returncode


def run_cli_benchmark(runs: int) -> CliReport:
    entry_point = str(PROJECT_ROOT / ".venv" / "bin" / "hybrid")
    floor = statistics.median(timed([sys.executable, "-c", "pass"])[0] for _ in range(runs))
    timings = []
    for command in COMMANDS:
        results = [timed([entry_point, *command]) for _ in range(runs)]
        timings.append(
            Timing(" ".join(command), [s for s, _ in results], {code for _, code in results})
        )
    return CliReport(floor, timings)
