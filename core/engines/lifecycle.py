"""What the activities need from a job on an engine (a Spark application, a Ray job) to run it
exactly once under a deterministic submission id: start it or attach to it, poll it, read its
log, stop it."""

from __future__ import annotations

import re
from typing import Literal, Protocol

# the jobs' own progress lines start with their name in brackets (`[train] trial 2/4`)
OWN_PROGRESS_LINE = re.compile(r"^\[[a-z_]+\] ")

JobState = Literal["RUNNING", "SUCCEEDED", "FAILED", "STOPPED", "MISSING"]


class EngineJob(Protocol):
    engine: str
    submission_id: str

    def start_or_attach(self) -> bool:
        """Start the job unless it runs or succeeded already; True when it attached."""
        ...

    def poll(self) -> JobState: ...

    def logs(self) -> str: ...

    def stop(self) -> None: ...


class EngineJobFailed(RuntimeError):
    pass


def summary_line(logs: str) -> str:
    """The job's JSON summary: the last line of its log that is a JSON object."""
    for line in reversed(logs.splitlines()):
        if line.startswith("{") and line.rstrip().endswith("}"):
            return line
    raise EngineJobFailed("the job printed no JSON summary")


def progress_line(lines: list[str]) -> str:
    """The job's own last progress line, not the engine's or a library's log lines around it
    (Spark's log4j, Ray Data's progress bars); "" until the job has said something."""
    for line in reversed(lines):
        if OWN_PROGRESS_LINE.match(line):
            return line
    return ""


def log_tail(logs: str, max_chars: int = 20_000) -> str:
    return logs[-max_chars:]


def failure_excerpt(logs: str) -> str:
    """The Python traceback if there is one (PySpark and Ray print it last), else the log's end."""
    at = logs.rfind("Traceback (most recent call last)")
    return (logs[at:] if at >= 0 else logs)[-3000:]
