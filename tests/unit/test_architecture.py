"""The tree's rules, checked on every run: the layering (import-linter, configured in
pyproject.toml and explained in docs/architecture.md), source files small enough to read, and
no runtime `assert` outside the tests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT
from tests.support.project import PYPROJECT, SOURCE_PACKAGES

MAX_LINES = 450


def sources() -> list[Path]:
    return sorted(
        path for package in SOURCE_PACKAGES for path in (PROJECT_ROOT / package).rglob("*.py")
    )


def test_every_import_contract_is_kept() -> None:
    # in a process of its own: import-linter configures logging for the whole process
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--config",
            str(PYPROJECT),
            "--no-cache",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


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
