"""Submitting PyFlink jobs to the session cluster and reading their state over Flink's REST API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from core.settings import Settings
from core.toolchain import java_home, maven_jars
from stack.services import flink_environment, prepare_flink_dirs


class FlinkSubmitError(RuntimeError):
    pass


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).parent


def submit_python_job(
    settings: Settings, script: Path, args: list[str], savepoint: str | None = None
) -> str:
    """`flink run -d -py` against the session cluster; returns the Flink job id.

    The client plans the job locally, so it runs with the same lib dir (Kafka connector
    included) as the cluster's processes."""
    home = flink_home()
    java = java_home(settings, "flink")
    prepare_flink_dirs(settings, home, maven_jars(settings, "flink"))
    rest = urlsplit(settings.flink_rest_url)
    done = subprocess.run(
        [
            "bash",
            str(home / "bin" / "flink"),
            "run",
            "-m",
            f"{rest.hostname}:{rest.port or 8081}",
            "-d",
            *(["-s", savepoint] if savepoint else []),
            "-py",
            str(script),
            "-pyexec",
            sys.executable,
            *args,
        ],
        capture_output=True,
        text=True,
        env=_env(settings, home, java),
        timeout=300,
    )
    for line in done.stdout.splitlines():
        if "JobID" in line:
            return line.rsplit(maxsplit=1)[-1]
    raise FlinkSubmitError(
        f"flink run {script.name} failed (exit {done.returncode}):\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )


def _env(settings: Settings, home: Path, java: Path) -> dict[str, str]:
    return {**os.environ, **flink_environment(settings, home, java)}


class FlinkRest:
    """The handful of REST calls the project uses."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0):
        self.client = httpx.Client(base_url=settings.flink_rest_url, timeout=timeout_s)

    def jobs(self) -> list[dict]:
        return self.client.get("/jobs/overview").raise_for_status().json()["jobs"]

    def job(self, job_id: str) -> dict:
        return self.client.get(f"/jobs/{job_id}").raise_for_status().json()

    def cancel(self, job_id: str) -> None:
        self.client.patch(f"/jobs/{job_id}", params={"mode": "cancel"}).raise_for_status()

    def stop_with_savepoint(self, job_id: str) -> str:
        response = self.client.post(f"/jobs/{job_id}/stop", json={"drain": False})
        return response.raise_for_status().json()["request-id"]

    def savepoint_status(self, job_id: str, trigger: str) -> dict:
        return self.client.get(f"/jobs/{job_id}/savepoints/{trigger}").raise_for_status().json()

    def checkpoints(self, job_id: str) -> dict:
        return self.client.get(f"/jobs/{job_id}/checkpoints").raise_for_status().json()

    def running_job_named(self, name: str) -> dict | None:
        """A job of that name that is not finished, failed or cancelled."""
        return next(iter(self.running_jobs_named(name)), None)

    def running_jobs_named(self, name: str) -> list[dict]:
        live = [job for job in self.jobs() if job["state"] not in TERMINAL_STATES]
        return [job for job in live if job["name"] == name]


TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "CANCELED"})
