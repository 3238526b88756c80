"""The compose stack's shell scripts, run for real by dash (POSIX sh, as strict as the images'
BusyBox sh) against the local stack's servers, which are the same programs: the namespace and
search attribute set-up against the Temporal dev server (twice: a second `up` changes nothing),
and the Temporal role's init script against PostgreSQL with the real psql."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest

from core.settings import PROJECT_ROOT, Settings
from core.toolchain import postgres_bin_dir, venv_tool
from tests.support.compose import compose_file

pytestmark = pytest.mark.integration
DASH = shutil.which("dash")


def run_script(script: str, **environment: str) -> subprocess.CompletedProcess[str]:
    if DASH is None:
        pytest.skip("no dash here to run the scripts as POSIX sh")
    return subprocess.run(
        [DASH, str(PROJECT_ROOT / "infra" / script)],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_namespace_script_registers_what_is_missing_and_only_that(
    stack, base_settings: Settings
) -> None:
    setup = compose_file()["services"]["temporal-setup"]["environment"]
    namespace = f"compose-{uuid.uuid4().hex[:6]}"
    cli = venv_tool("temporal")
    environment = {
        "PATH": f"{cli.parent}:{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": base_settings.temporal_address,
        "NAMESPACE": namespace,
        "SEARCH_ATTRIBUTES": setup["SEARCH_ATTRIBUTES"],
    }

    def temporal(*arguments: str) -> str:
        ran = subprocess.run(
            [str(cli), *arguments], env=environment, capture_output=True, text=True, timeout=60
        )
        return ran.stdout

    try:
        for _ in range(2):
            ran = run_script("temporal/register-namespace.sh", **environment)
            assert ran.returncode == 0, ran.stdout + ran.stderr
        listed = temporal("operator", "search-attribute", "list", "--namespace", namespace)
        for attribute in setup["SEARCH_ATTRIBUTES"].split():
            name, kind = attribute.split("=")
            assert any(name in line and kind in line for line in listed.splitlines()), listed
    finally:
        temporal("operator", "namespace", "delete", "--namespace", namespace, "--yes")


def test_the_temporal_role_script_creates_the_role_with_the_env_password(
    stack, base_settings: Settings
) -> None:
    dsn = urlsplit(base_settings.postgres_dsn)
    password = uuid.uuid4().hex
    with psycopg.connect(base_settings.postgres_dsn, autocommit=True) as admin:
        admin.execute("drop role if exists temporal")
        try:
            ran = run_script(
                "postgres/temporal-role.sh",
                PATH=f"{postgres_bin_dir('postgres')}:{os.environ['PATH']}",
                POSTGRES_USER=dsn.username or "",
                POSTGRES_DB=dsn.path.lstrip("/"),
                PGHOST=dsn.hostname or "",
                PGPORT=str(dsn.port),
                PGPASSWORD=dsn.password or "",
                TEMPORAL_DB_PASSWORD=password,
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            role_dsn = base_settings.postgres_dsn.replace(
                f"{dsn.username}:{dsn.password}@", f"temporal:{password}@"
            )
            with psycopg.connect(role_dsn) as role:
                assert role.execute("select current_user").fetchone() == ("temporal",)
        finally:
            admin.execute("drop role if exists temporal")
