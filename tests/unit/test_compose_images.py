"""Every program the compose file runs is one its image ships.

No machine here runs a Docker engine, so what each pinned image provides is written down below,
each with the source that shows it (read at the image's tag), and every `entrypoint`, `command`
and `healthcheck` of infra/docker-compose.yml, with the scripts they run, is checked against it.
An image's tag changes only with its row here, re-read from its new source."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.settings import PROJECT_ROOT
from tests.support.compose import COMPOSE_FILE, compose_file
from tests.support.shell import programs_run

SERVICES: dict[str, dict[str, Any]] = compose_file()["services"]
BUSYBOX = {"sh", "wget", "nc", "grep", "seq", "sleep"}  # Alpine's and busybox's applets we use


@dataclass(frozen=True)
class Image:
    programs: frozenset[str]
    source: str  # where that is shown, at the tag
    runs_command: bool = False  # its entrypoint runs `command` as a program


IMAGES = {
    "postgres:16": Image(
        frozenset({"bash", "sh", "grep", "postgres", "pg_isready", "psql"}),
        "docker-library/postgres 16/trixie/Dockerfile: FROM debian:trixie-slim, postgresql-16"
        " and its client on PATH (/usr/lib/postgresql/16/bin); docker-entrypoint.sh (bash)"
        " execs a command that is `postgres` or another program",
        runs_command=True,
    ),
    "temporalio/admin-tools:1.30.1": Image(
        frozenset(BUSYBOX | {"temporal", "temporal-sql-tool", "tdbg"}),
        "temporalio/temporal v1.30.1 docker/targets/admin-tools.Dockerfile: FROM alpine:3.23.3"
        " (BusyBox, no bash), apk add ca-certificates tzdata only, COPY temporal (CLI 1.5.1),"
        " temporal-sql-tool, temporal-cassandra-tool, temporal-elasticsearch-tool, tdbg to"
        " /usr/local/bin, schema/ to /etc/temporal/schema",
    ),
    "temporalio/server:1.30.1": Image(
        frozenset(BUSYBOX | {"temporal-server"}),
        "temporalio/temporal v1.30.1 docker/targets/server.Dockerfile: FROM alpine:3.23.3"
        " (BusyBox, no bash), COPY temporal-server only (no `temporal` CLI, tctl or"
        " grpc_health_probe); docker/scripts/sh/entrypoint.sh (#!/bin/sh)",
    ),
    "temporalio/ui:2.49.1": Image(
        frozenset(BUSYBOX | {"bash", "curl"}),
        "temporalio/ui v2.49.1 server/Dockerfile: FROM alpine:3.23.3, apk add ca-certificates"
        " tzdata bash curl; GET /healthz in server/server/route/health.go",
    ),
    "apache/kafka:4.4.0": Image(
        frozenset(BUSYBOX | {"bash", "/opt/kafka/bin/kafka-broker-api-versions.sh"}),
        "apache/kafka docker/jvm/Dockerfile: FROM eclipse-temurin:21-jre-alpine, apk add bash"
        " (GNU wget removed, BusyBox's stays), the release's bin/ in /opt/kafka/bin (read on"
        " trunk and in the 4.1.0 image's layers: no 4.4.0 tag in the stored repository)",
    ),
    "prom/prometheus:v3.5.0": Image(
        frozenset(BUSYBOX | {"prometheus", "promtool"}),
        "prometheus/prometheus v3.5.0 Dockerfile: FROM quay.io/prometheus/busybox (BusyBox),"
        " /bin/prometheus and /bin/promtool; GET /-/healthy in web/web.go",
    ),
    "grafana/grafana:12.2.1": Image(
        frozenset(BUSYBOX | {"bash", "curl", "grafana"}),
        "grafana/grafana Dockerfile (v12.2.0, the 12.2 line): FROM alpine, apk add"
        " ca-certificates bash curl tzdata musl-utils; GET /api/health",
    ),
}


def project_image() -> Image:
    """infra/Dockerfile's runtime stage: Debian slim with Python (dash as sh, bash), the JRE and
    curl it installs, and the virtual environment's scripts (requirements.lock, as here)."""
    dockerfile = (PROJECT_ROOT / "infra" / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.index("FROM base AS runtime") :]
    installed = {"curl", "java"} if "openjdk-17-jre-headless curl" in runtime else set()
    venv = {path.name for path in (PROJECT_ROOT / ".venv" / "bin").iterdir()}
    return Image(
        frozenset({"sh", "bash", "grep", *installed, *venv}),
        "infra/Dockerfile (FROM python:3.11-slim-bookworm) and the venv of requirements.lock",
        runs_command=True,  # no ENTRYPOINT
    )


def image_of(service: dict[str, Any]) -> Image:
    return project_image() if "build" in service else IMAGES[service["image"]]


def mounted_script(service: dict[str, Any], path: str) -> Path | None:
    """The repository file a bind mount puts at `path` in the container."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith(".") and path.startswith(target.rstrip("/") + "/"):
            return COMPOSE_FILE.parent / source / path.removeprefix(target.rstrip("/") + "/")
    return None


def programs_of(service: dict[str, Any]) -> dict[str, set[str]]:
    """What runs the service (its entrypoint, or its command when the image runs that) and its
    health check, each with the programs it needs."""
    needed: dict[str, set[str]] = {}
    entrypoint = service.get("entrypoint")
    if entrypoint:
        needed["entrypoint"] = {entrypoint[0]}
        script = mounted_script(service, entrypoint[1]) if len(entrypoint) > 1 else None
        if entrypoint[0] in ("sh", "bash") and script is not None:
            needed[f"entrypoint ({script.name})"] = programs_run(script.read_text())
    elif "command" in service and image_of(service).runs_command:
        needed["command"] = {service["command"][0]}
    test = service.get("healthcheck", {}).get("test", [])
    if test[:1] == ["CMD"]:
        needed["healthcheck"] = {test[1]}
    elif test[:1] == ["CMD-SHELL"]:
        needed["healthcheck"] = {"sh"} | programs_run(test[1])
    return needed


def test_every_image_has_its_programs_written_down() -> None:
    pinned = {service["image"] for service in SERVICES.values() if "build" not in service}
    assert pinned == set(IMAGES), "a new or re-tagged image: read its source, write its row"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_runs_only_what_its_image_ships(name: str) -> None:
    service = SERVICES[name]
    shipped = image_of(service).programs
    for part, programs in programs_of(service).items():
        assert programs <= shipped, f"{name} {part}: {sorted(programs - shipped)} not in the image"


def test_the_scripts_run_by_sh_are_posix() -> None:
    """BusyBox's sh is no bash: dash, as strict, must parse them (arrays, here-strings fail)."""
    dash = shutil.which("dash")
    if dash is None:
        pytest.skip("no dash here to parse the scripts as POSIX sh")
    scripts = [
        script
        for service in SERVICES.values()
        if (entrypoint := service.get("entrypoint")) and entrypoint[0] == "sh"
        if (script := mounted_script(service, entrypoint[1])) is not None
    ]
    scripts.append(PROJECT_ROOT / "infra" / "postgres" / "temporal-role.sh")
    assert len(scripts) == 3
    for script in scripts:
        checked = subprocess.run([dash, "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{script.name}: {checked.stderr}"


def test_the_programs_of_a_script_are_found() -> None:
    """The reading of scripts that the checks above rely on."""
    script = """#!/bin/sh
set -eu
retry() { for _ in $(seq 3); do "$@" && return 0; sleep 2; done; }
registered=$(retry temporal operator search-attribute list)
if printf '%s\\n' "$registered" | grep -qw -- x; then echo "done: x"; fi
psql <<'SQL'
CREATE ROLE x;
SQL
"""
    assert programs_run(script) == {"seq", "sleep", "temporal", "grep", "psql"}


DOCKERFILE = (PROJECT_ROOT / "infra" / "Dockerfile").read_text()


def test_the_dockerfile_names_the_syntax_its_cache_mounts_need() -> None:
    assert "RUN --mount" in DOCKERFILE
    assert DOCKERFILE.startswith("# syntax=docker/dockerfile:1\n")


def test_the_services_account_is_also_the_user_variable() -> None:
    """Flink's scripts name their files after $USER, which `USER` does not set."""
    runtime = DOCKERFILE[DOCKERFILE.index("FROM base AS runtime") :]
    account = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert account
    assert re.search(rf"^ENV USER={account[-1]}$", runtime, re.M)


def test_the_venv_builds_where_apache_flink_has_no_wheel() -> None:
    venv_stage = DOCKERFILE[DOCKERFILE.index("FROM base AS venv") : DOCKERFILE.index("FROM venv")]
    assert "ARG TARGETARCH" in venv_stage
    compiler = venv_stage.index("build-essential")
    assert venv_stage.index('"$TARGETARCH" != "amd64"') < compiler < venv_stage.index("uv pip")
