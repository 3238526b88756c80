"""Ray: a tiny job through the Jobs API of the head node."""

import json
import uuid

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from core.engines.lifecycle import summary_line
from core.settings import PROJECT_ROOT, Settings
from tests.support.waiting import wait_for


def test_job_runs_through_the_jobs_api(stack, base_settings: Settings) -> None:
    jobs = JobSubmissionClient(base_settings.ray_address)
    submission_id = f"cluster-check-{uuid.uuid4().hex[:8]}"
    jobs.submit_job(
        entrypoint="python cluster_check.py --tasks 6",
        runtime_env={"working_dir": str(PROJECT_ROOT / "jobs" / "ray")},
        submission_id=submission_id,
    )
    status = wait_for(
        lambda: (s := jobs.get_job_status(submission_id)).is_terminal() and s,
        timeout_s=180,
        what="the Ray job to finish",
    )
    logs = jobs.get_job_logs(submission_id)
    assert status == JobStatus.SUCCEEDED, logs
    # as the pipeline reads a job's summary: Ray may append its own warnings to the log (a
    # raylet's "disk over 95% full" broke a test that took the last line)
    summary = json.loads(summary_line(logs))
    assert summary == {"sum_of_squares": 55, "tasks": 6, "cluster_cpus": 2.0}

    # a deterministic submission id makes a resubmission safe: Ray refuses the duplicate
    with pytest.raises(RuntimeError, match="already exists"):
        jobs.submit_job(entrypoint="python cluster_check.py", submission_id=submission_id)
