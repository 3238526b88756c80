"""Flink: the session cluster's JobManager and TaskManager from the apache-flink wheel, with the
configuration and lib directory that the Flink client (core/engines/flink.py) uses too."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core.engines.flink import flink_environment, flink_home, prepare_flink_dirs
from core.toolchain import java_home, maven_jars
from stack.base import Port, Service, http_ok


@dataclass(kw_only=True)
class FlinkProcess(Service):
    """A Flink session cluster process from the apache-flink wheel, with our conf and lib dirs."""

    script: str = ""

    def install(self) -> None:
        self.flink_home = flink_home()
        self.java_home = java_home(self.settings, self.name)
        self.connector_jars = maven_jars(self.settings, "flink")

    @property
    def tmp_dir(self) -> Path:
        return self.state_dir / "tmp"

    def prepare(self) -> None:
        prepare_flink_dirs(self.settings, self.flink_home, self.connector_jars)
        # The process's working directory, blobs and spill files: it never removes them when it
        # is killed (hundreds of MB per TaskManager start in /tmp, by default). Nothing in them
        # is used by the next start: checkpoints and savepoints live elsewhere.
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)

    def environment(self) -> dict[str, str]:
        return flink_environment(self.settings, self.flink_home, self.java_home)

    def command(self) -> list[str]:
        return [
            "bash",
            str(self.flink_home / "bin" / self.script),
            "start-foreground",
            "-D",
            f"io.tmp.dirs={self.tmp_dir}",
        ]


@dataclass(kw_only=True)
class FlinkJobManager(FlinkProcess):
    name: str = "flink-jobmanager"
    description: str = "Flink session cluster: JobManager, REST API and Web UI"
    script: str = "jobmanager.sh"

    def __post_init__(self) -> None:
        self.ports = [
            Port(self.settings.flink_rest_port, "Flink REST and Web UI", "HYBRID_FLINK_REST_URL"),
            Port(6123, "Flink JobManager RPC", "(fixed)"),
        ]

    def url(self) -> str:
        return self.settings.flink_ui_url

    def healthy(self) -> bool:
        return http_ok(f"{self.settings.flink_rest_url}/config") is not None


@dataclass(kw_only=True)
class FlinkTaskManager(FlinkProcess):
    name: str = "flink-taskmanager"
    description: str = "Flink session cluster: TaskManager (4 slots)"
    script: str = "taskmanager.sh"

    def healthy(self) -> bool:
        """This process registered with the JobManager (the JobManager alone would still count
        a TaskManager that just died, until its heartbeats time out)."""
        if "Successful registration at resource manager" not in self.latest_log():
            return False
        overview = http_ok(f"{self.settings.flink_rest_url}/overview")
        return overview is not None and overview.json().get("taskmanagers", 0) >= 1
