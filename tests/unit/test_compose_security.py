"""The compose stack is safe to start on a machine on a network: its ports face loopback unless
a variable says otherwise, and its passwords are generated for the machine (infra/.env, never
committed), not written in the file."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.codec import parse_keys
from core.errors import InvalidInput
from core.settings import PROJECT_ROOT
from tests.support.compose import TEST_ENVIRONMENT, MissingVariable, compose_file
from tools.compose_env import ENV_FILE, PUBLISH_ADDRESS, SECRETS, write_env_file


def published(environment: dict[str, str]) -> dict[str, list[str]]:
    services = compose_file(environment)["services"]
    return {name: service["ports"] for name, service in services.items() if "ports" in service}


def test_every_published_port_is_on_loopback_by_default() -> None:
    ports = published(TEST_ENVIRONMENT)
    # postgres, temporal, its UI, kafka, flink, ray, the codec server, prometheus, grafana
    assert len(ports) == 9
    for service, entries in ports.items():
        for entry in entries:
            assert entry.split(":")[0] == "127.0.0.1", f"{service}: {entry}"


def test_the_publish_address_is_a_variable() -> None:
    ports = published(TEST_ENVIRONMENT | {PUBLISH_ADDRESS: "192.0.2.7"})
    assert {entry.split(":")[0] for entries in ports.values() for entry in entries} == {"192.0.2.7"}


def test_the_stack_does_not_start_without_its_generated_passwords() -> None:
    for missing in SECRETS:
        environment = {k: v for k, v in TEST_ENVIRONMENT.items() if k != missing}
        with pytest.raises(MissingVariable, match=f"{missing}.*run ./hybrid compose env"):
            compose_file(environment)


def test_every_password_comes_from_the_env_file() -> None:
    services = compose_file()["services"]
    secrets = set(TEST_ENVIRONMENT.values())
    passwords = {
        f"{name} {key}": str(value)
        for name, service in services.items()
        for key, value in (service.get("environment") or {}).items()
        if re.search(r"PASSWORD|PWD", key)
    }
    assert len(passwords) >= 5
    for where, value in passwords.items():
        assert value in secrets, f"{where} is not one of infra/.env's passwords"
    dsn = urlsplit(services["worker"]["environment"]["HYBRID_POSTGRES_DSN"])
    assert dsn.password == TEST_ENVIRONMENT["HYBRID_POSTGRES_PASSWORD"]
    temporal_role = (PROJECT_ROOT / "infra" / "postgres" / "temporal-role.sh").read_text()
    assert "\\getenv password TEMPORAL_DB_PASSWORD" in temporal_role


def test_no_secret_reaches_a_command_line() -> None:
    """A container's command line is visible to every process of the host (`ps`)."""
    for name, service in compose_file()["services"].items():
        for part in ("command", "entrypoint"):
            words = service.get(part) or []
            words = words.split() if isinstance(words, str) else words
            assert not set(words) & set(TEST_ENVIRONMENT.values()), f"{name} {part}"
    for script in (PROJECT_ROOT / "infra").rglob("*.sh"):
        assert not re.search(r"--(pw|password)\b", script.read_text()), script.name


def read_env(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_env_file_is_generated_private_and_kept(tmp_path: Path) -> None:
    env_file = write_env_file(tmp_path / ".env")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env(env_file)
    assert set(values) == set(SECRETS)
    assert len(set(values.values())) == len(SECRETS)
    assert len(parse_keys(values["HYBRID_PAYLOAD_KEYS"])) == 1
    passwords = [value for name, value in values.items() if name != "HYBRID_PAYLOAD_KEYS"]
    assert all(len(value) >= 32 and re.fullmatch(r"[\w-]+", value) for value in passwords)
    # the passwords of existing volumes are never replaced by accident
    with pytest.raises(InvalidInput, match="exists"):
        write_env_file(env_file)
    assert read_env(env_file) == values
    replaced = read_env(write_env_file(env_file, replace=True))
    assert set(replaced) == set(SECRETS)
    assert not set(replaced.values()) & set(values.values())


def test_the_env_file_is_never_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(ENV_FILE)], cwd=PROJECT_ROOT, check=False
    )
    assert ignored.returncode == 0, f"{ENV_FILE} is not in .gitignore"
