"""Facts about the tree itself, read from pyproject.toml."""

from __future__ import annotations

import tomllib

from core.settings import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
# every package of the project: the ones import-linter checks
SOURCE_PACKAGES: list[str] = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"][
    "root_packages"
]
