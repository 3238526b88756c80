"""Running PySpark jobs with spark-submit against the configured master.

`HYBRID_SPARK_MASTER=local[2]` runs the job in the spark-submit process on this machine; a
`spark://host:7077` master runs the same command against a standalone cluster (client mode,
the only mode PySpark supports there). The Kafka source and the JDBC driver travel with --jars."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from core.engines.lifecycle import JobState
from core.settings import Settings
from core.toolchain import java_home, maven_jars, venv_tool

# In-process (local[N]) the driver's RPC, block manager and UI listen on loopback only: by
# default they took the host's address and every interface (*:4040, measured)
LOOPBACK_ONLY = [
    "--conf",
    "spark.driver.bindAddress=127.0.0.1",
    "--conf",
    "spark.driver.host=127.0.0.1",
]


def spark_submit_command(
    settings: Settings, script: Path, args: list[str], app_name: str
) -> list[str]:
    jars = sorted(maven_jars(settings, "spark").glob("*.jar"))
    return [
        str(venv_tool("spark-submit")),
        "--master",
        settings.spark_master,
        "--name",
        app_name,
        "--driver-memory",
        settings.spark_driver_memory,
        "--jars",
        ",".join(str(j) for j in jars),
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        # adaptive execution may coalesce the shuffle partitions of a cached plan too: without
        # it the ETL's cached, de-duplicated read runs 200 tasks whatever its size (11 of an
        # empty run's 16 s, measured)
        "--conf",
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning=true",
        *(LOOPBACK_ONLY if settings.spark_master.startswith("local") else []),
        str(script),
        *args,
    ]


def spark_environment(settings: Settings, **extra: str) -> dict[str, str]:
    local = {"SPARK_LOCAL_IP": "127.0.0.1"} if settings.spark_master.startswith("local") else {}
    return {
        **os.environ,
        "JAVA_HOME": str(java_home(settings, "spark")),
        "PYSPARK_PYTHON": sys.executable,
        **local,  # the UI's address (it listens on every interface otherwise)
        **extra,
    }


class SparkApplication:
    """One spark-submit run under a deterministic submission id, detached from the worker.

    The run keeps its pid, output and exit code in <spark_apps_dir>/<submission id>/: a worker
    that restarts after a crash finds the application still running and attaches to it rather
    than starting a second one, and cancelling stops the whole process group (driver JVM and
    Python workers). A run that failed is archived next to it and started afresh on retry."""

    engine = "spark"

    def __init__(
        self,
        settings: Settings,
        submission_id: str,
        command: list[str],
        environment: Mapping[str, str] | None = None,
    ):
        self.settings = settings
        self.submission_id = submission_id
        self.command = command
        # secrets go here, not in the command: every user sees a command line in `ps`
        self.environment = dict(environment or {})
        self.directory = settings.spark_apps_dir / submission_id
        self.process: subprocess.Popen[bytes] | None = None  # when this object started it

    def start_or_attach(self) -> bool:
        """True when it attached to a run that was already started."""
        if self.directory.exists():
            if self.poll() in ("RUNNING", "SUCCEEDED"):
                return True
            attempts = len(list(self.directory.parent.glob(f"{self.submission_id}.failed-*")))
            self.directory.rename(
                self.directory.with_name(f"{self.directory.name}.failed-{attempts + 1}")
            )
        try:
            self.directory.mkdir(parents=True)
        except FileExistsError:  # another attempt started it a moment ago
            return True
        # the shell waits for spark-submit and records its exit code where a later worker can
        # read it; a new session keeps the application alive when the worker dies, and makes it
        # one process group to stop
        self.process = subprocess.Popen(
            [
                "bash",
                "-c",
                '"$@" >stdout 2>stderr; echo $? >exit_code.tmp; mv exit_code.tmp exit_code',
                str(self.directory),
                *self.command,
            ],
            cwd=self.directory,
            env=spark_environment(self.settings, **self.environment),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        (self.directory / "pid").write_text(str(self.process.pid))
        return False

    def poll(self) -> JobState:
        if not self.directory.exists():
            return "MISSING"
        if self._alive():
            return "RUNNING"
        # checked after the process is known to be gone: it writes its exit code, then exits
        if (self.directory / "stopped").exists():
            return "STOPPED"
        exit_code = self.directory / "exit_code"
        if exit_code.exists():
            return "SUCCEEDED" if exit_code.read_text().strip() == "0" else "FAILED"
        return "FAILED"  # killed before it could record how it ended

    def logs(self) -> str:
        return "".join(
            (self.directory / name).read_text(errors="replace")
            for name in ("stderr", "stdout")
            if (self.directory / name).exists()
        )

    def stop(self, grace_s: float = 10) -> None:
        """SIGTERM to the whole process group (shell, driver JVM, Python workers), SIGKILL to
        what is left after the grace period; returns once the group is gone."""
        pid = self._pid()
        if pid is None or not self.directory.exists():
            return
        (self.directory / "stopped").touch()
        if not self._alive() and not self._group_alive(pid):
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + grace_s
            while self._group_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self._group_alive(pid):
                return

    def _group_alive(self, pgid: int) -> bool:
        if self.process is not None:
            self.process.poll()  # reap our shell, or its zombie keeps the group alive
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True

    def _pid(self) -> int | None:
        pid_file = self.directory / "pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def _alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        pid = self._pid()
        if pid is None:
            return False
        try:  # the pid must still be our shell, not a process that reused the number
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
            command, status = stat.split("(", 1)[1].split(")")[0], stat.rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return False
        if status == "Z":  # exited, not yet reaped by the worker that started it
            return False
        if cmdline == [b""]:  # the arguments are not readable yet in the first moments of exec
            return command == "bash"
        return str(self.directory).encode() in cmdline
