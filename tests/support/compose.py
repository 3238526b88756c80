"""The compose file as Docker Compose reads it: YAML, then its `${VARIABLE...}` interpolated from
an environment (Compose's own rules for the forms the file uses), so that the checks see the
values the containers would get."""

from __future__ import annotations

import re
from typing import Any

import yaml

from core.settings import PROJECT_ROOT
from tools.compose_env import SECRETS

COMPOSE_FILE = PROJECT_ROOT / "infra" / "docker-compose.yml"
# what `hybrid compose env` writes, with recognisable values
TEST_ENVIRONMENT = {name: f"test-{name.lower().replace('_', '-')}" for name in SECRETS}
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, environment: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op") or "", match.group("arg") or ""
        given = environment.get(name)
        unset = given is None or (op.startswith(":") and given == "")
        if op.endswith("-"):
            return arg if unset else str(given)
        if op.endswith("?"):
            if unset:
                raise MissingVariable(f"required variable {name} is missing a value: {arg}")
            return str(given)
        if op.endswith("+"):
            return "" if unset else arg
        return "" if given is None else given

    return VARIABLE.sub(substitute, value)


def compose_file(environment: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolate(raw, TEST_ENVIRONMENT if environment is None else environment)
