"""`hybrid histories record`: workflow histories for the replay tests."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli.console import console, setup_logging
from core.settings import PROJECT_ROOT, get_settings

app = typer.Typer(no_args_is_help=True, help="Workflow histories for the replay tests.")


@app.command("record")
def histories_record(
    tag: Annotated[str, typer.Option(help="Version tag in the file names, e.g. v2.")],
    branch: Annotated[list[str] | None, typer.Option(help="Only this branch (repeatable).")] = None,
) -> None:
    """Run every saga branch on the local stack and store its history under tests/histories."""
    from tools.histories.record import record

    setup_logging()
    for path in asyncio.run(record(get_settings(), tag, branch)):
        console.print(f"recorded {path.relative_to(PROJECT_ROOT)}")
