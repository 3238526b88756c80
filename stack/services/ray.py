"""Ray: a head node with the dashboard and the Jobs API, its state under the stack directory."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.toolchain import venv_tool
from stack.base import Port, Service, http_ok


@dataclass(kw_only=True)
class RayHead(Service):
    name: str = "ray"
    description: str = "Ray head node: dashboard and Jobs API"

    def __post_init__(self) -> None:
        self.ports = [
            Port(self.settings.ray_gcs_port, "Ray GCS", "HYBRID_RAY_GCS_PORT"),
            Port(
                self.settings.ray_dashboard_port, "Ray dashboard and Jobs API", "HYBRID_RAY_ADDRESS"
            ),
        ]

    def url(self) -> str:
        return self.settings.ray_dashboard_url

    def install(self) -> None:
        self.ray = venv_tool("ray")

    def prepare(self) -> None:
        (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        # Each head start is a new session directory holding that session's logs and runtime
        # environments (a clone of the venv per environment: gigabytes). Nothing in an old one
        # is used again (the job logs the project keeps are in PostgreSQL), so they go.
        for old_session in (self.state_dir / "tmp").glob("session_2*"):
            shutil.rmtree(old_session, ignore_errors=True)

    def environment(self) -> dict[str, str]:
        # Explicit, so a token left in ~/.ray by some other Ray session cannot switch auth on.
        # The venv first on PATH: job entrypoints say `python` and must get this environment.
        # A one-node cluster: Ray otherwise replaces `--node-ip-address 127.0.0.1` with the
        # host's address and its GCS, raylet, agents and workers listen there and on every
        # interface (measured with ss); with multi-node clusters off it keeps the loopback
        # address and binds to it (the variable's name says Windows and macOS, where that is
        # Ray's default; it means the same on Linux)
        return {
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def command(self) -> list[str]:
        dashboard = urlsplit(self.settings.ray_address)
        return [
            str(self.ray),
            "start",
            "--head",
            "--block",
            "--port",
            str(self.settings.ray_gcs_port),
            "--node-ip-address",
            "127.0.0.1",
            "--dashboard-host",
            dashboard.hostname or "127.0.0.1",
            "--dashboard-port",
            str(self.settings.ray_dashboard_port),
            "--include-dashboard",
            "true",
            "--num-cpus",
            "2",
            "--object-store-memory",
            str(512 * 1024 * 1024),
            "--temp-dir",
            str(self.state_dir / "tmp"),
            "--disable-usage-stats",
        ]

    def healthy(self) -> bool:
        return http_ok(f"{self.settings.ray_address}/api/jobs/") is not None
