"""The tree's rules, checked on every run: the layering (import-linter, configured in
pyproject.toml and explained in docs/architecture.md), source files small enough to read, and
no runtime `assert` outside the tests."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from core.settings import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
# the packages import-linter checks: every package of the project
SOURCE_PACKAGES = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["root_packages"]
MAX_LINES = 450


def sources() -> list[Path]:
    return sorted(
        path for package in SOURCE_PACKAGES for path in (PROJECT_ROOT / package).rglob("*.py")
    )


def test_every_import_contract_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = lint_imports(config_filename=str(PYPROJECT), no_cache=True)
    report = capsys.readouterr().out
    assert exit_code == 0, report
    assert "0 broken" in report


def test_no_source_file_is_too_long_to_read() -> None:
    long = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for path in sources()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"over {MAX_LINES} lines: split them by concern"


def test_no_assert_is_used_as_a_runtime_check() -> None:
    """`python -O` drops asserts: a check that must hold is an `if` that raises."""
    asserts = [
        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert asserts == []
