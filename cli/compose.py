"""`hybrid compose ...`: what the compose stack (infra/docker-compose.yml) needs from this host."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import console

app = typer.Typer(no_args_is_help=True, help="The compose stack's set-up on this machine.")


@app.command("env")
def compose_env(
    replace: Annotated[
        bool, typer.Option(help="Replace an existing file (after `docker compose down -v`).")
    ] = False,
) -> None:
    """Write infra/.env with passwords generated for this machine (mode 600, never committed)."""
    from tools.compose_env import write_env_file

    path = write_env_file(replace=replace)
    console.print(f"wrote {path} (owner-only): `docker compose -f infra/docker-compose.yml up`")
