"""Flink from the apache-flink wheel: the configuration its processes and clients share, submitting
PyFlink jobs to the session cluster, and reading their state over Flink's REST API.

The local stack starts the cluster's processes with `prepare_flink_dirs()` and
`flink_environment()`; `submit_python_job` plans a job with the very same lib and conf
directories, so the client and the cluster agree on the jars (the Kafka connector) and the
settings. Everything here blocks: call it in a thread from async code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from core.settings import PROJECT_ROOT, Settings
from core.toolchain import java_home, maven_jars

TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "CANCELED"})
# the distribution's logging configurations, copied next to our config.yaml
LOG_CONFIGS = (
    "log4j.properties",
    "log4j-console.properties",
    "log4j-cli.properties",
    "log4j-session.properties",
    "logback.xml",
    "logback-console.xml",
)


class FlinkSubmitError(RuntimeError):
    pass


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).parent


def flink_dir(settings: Settings) -> Path:
    """The stack's Flink directory: lib (the wheel's jars and the connector), conf, logs,
    checkpoints and savepoints."""
    return settings.stack_dir / "flink"


def prepare_flink_dirs(settings: Settings, home: Path, connector_jars: Path) -> None:
    root = flink_dir(settings)
    lib, conf = root / "lib", root / "conf"
    for directory in (lib, conf, root / "log", root / "checkpoints", root / "savepoints"):
        directory.mkdir(parents=True, exist_ok=True)
    for jar in [*(home / "lib").glob("*.jar"), *connector_jars.glob("*.jar")]:
        link = lib / jar.name
        if not link.exists():
            link.symlink_to(jar)
    for name in LOG_CONFIGS:
        shutil.copyfile(home / "conf" / name, conf / name)
    rest = urlsplit(settings.flink_rest_url)
    # The distribution's JVM options (module opens that Flink needs on Java 17) plus ours.
    shipped = yaml.safe_load((home / "conf" / "config.yaml").read_text())
    java_options = shipped["env"]["java"]["opts"]["all"]
    (conf / "config.yaml").write_text(
        "\n".join(
            [
                f"env.java.opts.all: {java_options}",
                # Keyed state on the heap is read at random (a card's state per event): on 4 KiB
                # pages each read also misses the TLB. With huge pages the fused detector's JFR
                # samples in state lookups fell from 88 to 45-55 over the same 907k records, its
                # GC pauses per run from ~480 to ~150 ms. Without THP ("never") the JVM goes on.
                "env.java.opts.taskmanager: -XX:+UseTransparentHugePages",
                f"jobmanager.rpc.address: {settings.flink_jobmanager_host}",
                f"jobmanager.bind-host: {settings.flink_bind_host}",
                f"taskmanager.bind-host: {settings.flink_bind_host}",
                f"taskmanager.host: {settings.flink_taskmanager_host}",
                f"rest.address: {rest.hostname}",
                f"rest.bind-address: {settings.flink_bind_host}",
                f"rest.port: {rest.port or 8081}",
                f"jobmanager.memory.process.size: {settings.flink_jobmanager_process_size}",
                f"taskmanager.memory.process.size: {settings.flink_taskmanager_process_size}",
                # keyed state lives on the heap (hashmap backend) and the jobs are pure SQL, no
                # Python UDFs: the memory Flink reserves for RocksDB and Python is better as heap
                "taskmanager.memory.managed.fraction: 0.05",
                "taskmanager.numberOfTaskSlots: 4",
                "parallelism.default: 1",
                f"python.executable: {sys.executable}",
                f"python.client.executable: {sys.executable}",
                f"execution.checkpointing.dir: file://{root / 'checkpoints'}",
                f"execution.checkpointing.savepoint-dir: file://{root / 'savepoints'}",
                "",
            ]
        )
    )


def flink_environment(settings: Settings, home: Path, java: Path) -> dict[str, str]:
    root = flink_dir(settings)
    return {
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(root / "conf"),
        "FLINK_LIB_DIR": str(root / "lib"),
        "FLINK_LOG_DIR": str(root / "log"),
        "JAVA_HOME": str(java),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # the client runs a Python job's main: a job imports its siblings as `jobs.flink...`
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }


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
        env={**os.environ, **flink_environment(settings, home, java)},
        timeout=300,
    )
    for line in done.stdout.splitlines():
        if "JobID" in line:
            return line.rsplit(maxsplit=1)[-1]
    raise FlinkSubmitError(
        f"flink run {script.name} failed (exit {done.returncode}):\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )


class FlinkRest:
    """The handful of REST calls the project uses."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0):
        self.client = httpx.Client(base_url=settings.flink_rest_url, timeout=timeout_s)

    def jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self._get("/jobs/overview")["jobs"]
        return jobs

    def job(self, job_id: str) -> dict[str, Any]:
        return self._get(f"/jobs/{job_id}")

    def cancel(self, job_id: str) -> None:
        self.client.patch(f"/jobs/{job_id}", params={"mode": "cancel"}).raise_for_status()

    def stop_with_savepoint(self, job_id: str) -> str:
        response = self.client.post(f"/jobs/{job_id}/stop", json={"drain": False})
        request_id: str = response.raise_for_status().json()["request-id"]
        return request_id

    def savepoint_status(self, job_id: str, trigger: str) -> dict[str, Any]:
        return self._get(f"/jobs/{job_id}/savepoints/{trigger}")

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return self._get(f"/jobs/{job_id}/checkpoints")

    def taskmanagers(self) -> int:
        """How many TaskManagers are registered with the JobManager."""
        return int(self._get("/overview").get("taskmanagers", 0))

    def restarts(self, job_id: str) -> int:
        """How often Flink restarted the job (its `numRestarts` metric; 0 before it reports)."""
        response = self.client.get(f"/jobs/{job_id}/metrics", params={"get": "numRestarts"})
        values = response.json() if response.is_success else []
        return next((int(float(m["value"])) for m in values if m.get("id") == "numRestarts"), 0)

    def last_exception(self, job_id: str) -> str | None:
        """The first line of the job's latest exception, if it has one."""
        response = self.client.get(f"/jobs/{job_id}/exceptions")
        if not response.is_success:
            return None
        entries = (response.json().get("exceptionHistory") or {}).get("entries") or []
        if not entries:
            return None
        stack = (entries[0].get("stacktrace") or entries[0].get("exceptionName") or "").strip()
        return stack.splitlines()[0][:500] if stack else None

    def running_job_named(self, name: str) -> dict[str, Any] | None:
        """A job of that name that is not finished, failed or cancelled."""
        return next(iter(self.running_jobs_named(name)), None)

    def running_jobs_named(self, name: str) -> list[dict[str, Any]]:
        live = [job for job in self.jobs() if job["state"] not in TERMINAL_STATES]
        return [job for job in live if job["name"] == name]

    def _get(self, path: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.get(path).raise_for_status().json()
        return answer
