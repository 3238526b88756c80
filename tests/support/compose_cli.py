"""The Docker Compose CLI, for `docker compose config`: the one installed, or else the one built
from its Go module (the Compose CLI's own source, pinned here), kept under the stack directory.
None only when neither Compose nor Go is here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from core.settings import Settings

COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.6.0"


def installed() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def built(settings: Settings) -> list[str] | None:
    """The Compose CLI built with Go (about a minute and 360 MB of modules, the first time)."""
    binary = settings.stack_dir / "tools" / f"docker-compose-{COMPOSE_VERSION}"
    if binary.exists():
        return [str(binary)]
    go = shutil.which("go")
    if go is None:
        return None
    environment = {**os.environ, "GOFLAGS": "-mod=mod"}
    # `go install module@version` refuses a module whose go.mod has exclude directives, as
    # Compose's has: build from its downloaded source instead, as its own main module
    downloaded = subprocess.run(
        [go, "mod", "download", "-json", f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        timeout=900,
    )
    source = Path(json.loads(downloaded.stdout)["Dir"])
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "compose"
        shutil.copytree(source, tree)
        for path in [tree, *tree.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
        partial = binary.with_suffix(".partial")
        subprocess.run(
            [go, "build", "-trimpath", "-o", str(partial), "./cmd"],
            cwd=tree,
            env=environment,
            check=True,
            capture_output=True,
            timeout=1800,
        )
        partial.rename(binary)
    return [str(binary)]


def compose_command(settings: Settings) -> list[str] | None:
    return installed() or built(settings)
