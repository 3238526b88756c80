"""Ray jobs through the head node's Jobs API, under deterministic submission ids.

The Jobs API refuses a second job with an id it knows, so a retried activity that submits the
same id learns the job exists and attaches to it; only a job that failed or was stopped is
deleted and submitted again. The runtime environment comes from jobs/ray/runtime_env.yaml, the
same file `ray job submit --runtime-env` takes by hand, unless the nodes have those packages baked
into a Python of their own (the ray_job_python setting): then the job and its tasks run on that
one and nothing is installed."""

from __future__ import annotations

import time

import yaml
from ray.job_submission import JobStatus, JobSubmissionClient

from core.engines.lifecycle import JobState
from core.settings import PROJECT_ROOT, Settings

RAY_JOBS_DIR = PROJECT_ROOT / "jobs" / "ray"
ENDED: dict[JobStatus, JobState] = {
    JobStatus.SUCCEEDED: "SUCCEEDED",
    JobStatus.FAILED: "FAILED",
    JobStatus.STOPPED: "STOPPED",
}


class RayJob:
    engine = "ray"

    def __init__(self, settings: Settings, submission_id: str, entrypoint: str):
        self.address = settings.ray_address
        self.baked_python = settings.ray_job_python
        self.submission_id = submission_id
        self.entrypoint = entrypoint
        self._client: JobSubmissionClient | None = None

    @property
    def client(self) -> JobSubmissionClient:
        """Connected on first use: connecting asks the dashboard over HTTP, which blocks (every
        method here runs in a thread when called from an activity)."""
        if self._client is None:
            self._client = JobSubmissionClient(self.address)
        return self._client

    def start_or_attach(self) -> bool:
        """True when it attached to a job that was already submitted."""
        status = self.status()
        if status in (JobStatus.FAILED, JobStatus.STOPPED):
            self.client.delete_job(self.submission_id)
        elif status is not None:
            return True
        runtime_env = (
            {"py_executable": str(self.baked_python)}
            if self.baked_python is not None
            else yaml.safe_load((RAY_JOBS_DIR / "runtime_env.yaml").read_text())
        )
        try:
            self.client.submit_job(
                entrypoint=self.entrypoint,
                submission_id=self.submission_id,
                runtime_env=runtime_env | {"working_dir": str(RAY_JOBS_DIR)},
            )
        except RuntimeError as exc:  # submitted concurrently by another attempt
            if "already exists" not in str(exc):
                raise
            return True
        return False

    def poll(self) -> JobState:
        status = self.status()
        if status is None:
            return "MISSING"
        return ENDED.get(status, "RUNNING")

    def logs(self) -> str:
        if self.status() is None:
            return ""
        logs: str = self.client.get_job_logs(self.submission_id)
        return logs

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the job and wait until it has: the Jobs API sends SIGTERM, then SIGKILL after a
        few seconds."""
        if self.status() not in (JobStatus.PENDING, JobStatus.RUNNING):
            return
        self.client.stop_job(self.submission_id)
        deadline = time.monotonic() + timeout_s
        while self.poll() == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.5)

    def status(self) -> JobStatus | None:
        try:
            status: JobStatus = self.client.get_job_status(self.submission_id)
            return status
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                return None
            raise


def job_python(settings: Settings) -> str:
    """The interpreter a job's entrypoint names: the baked one, or the runtime environment's."""
    return str(settings.ray_job_python) if settings.ray_job_python is not None else "python"
