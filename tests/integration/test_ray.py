"""Ray: a tiny job through the Jobs API of the head node."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from ray.job_submission import JobStatus, JobSubmissionClient

from core.engines.lifecycle import summary_line
from core.engines.ray_jobs import RayJob, job_python
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


def test_a_job_on_a_baked_python_installs_nothing(
    stack, base_settings: Settings, tmp_path: Path
) -> None:
    """The image's way (ray_job_python): the jobs' packages baked by jobs/ray/bake-python.sh,
    the job and its tasks on that Python, no runtime environment to install."""
    baked = tmp_path / "ray-jobs"
    subprocess.run(
        ["sh", str(PROJECT_ROOT / "jobs" / "ray" / "bake-python.sh"), str(baked), sys.prefix],
        check=True,
        timeout=300,
    )
    settings = base_settings.model_copy(update={"ray_job_python": baked / "bin" / "python"})
    wanted = yaml.safe_load((PROJECT_ROOT / "jobs" / "ray" / "runtime_env.yaml").read_text())["uv"]
    code = (
        "import json, sys, pyarrow, ray; ray.init();"
        " task = ray.remote(lambda: (sys.executable, pyarrow.__version__));"
        " print(json.dumps({'driver': [sys.executable, pyarrow.__version__],"
        " 'task': ray.get(task.remote())}))"
    )
    job = RayJob(settings, f"baked-{uuid.uuid4().hex[:8]}", f'{job_python(settings)} -c "{code}"')
    assert job.start_or_attach() is False
    wait_for(lambda: job.poll() != "RUNNING", timeout_s=180, what="the Ray job to finish")
    logs = job.logs()
    assert job.poll() == "SUCCEEDED", logs
    ran = json.loads(summary_line(logs))
    python = str(baked / "bin" / "python")
    assert [ran["driver"], ran["task"]] == [[python, wanted[0].split("==")[1]]] * 2
