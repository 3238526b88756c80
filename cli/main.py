"""`hybrid`: the command line of the reference application, one module per command group.

An error the user can act on (core/errors.py) is printed as one line with what to do, and the
command exits 1; anything else is a bug and shows its traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from cli import bench, codec, compose, histories, orders, pipeline, stack, stream
from cli.console import console, setup_logging
from cli.demo import demo
from core.errors import ActionableError
from core.settings import PROJECT_ROOT, get_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    # a traceback's locals would print settings (the database password among them)
    pretty_exceptions_show_locals=False,
    help="Temporal-driven order saga and fraud detection: local stack, worker, demo.",
)
app.add_typer(stack.app, name="stack")
app.add_typer(histories.app, name="histories")
app.add_typer(stream.app, name="stream")
app.add_typer(orders.app, name="orders")
app.add_typer(pipeline.etl_app, name="etl")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(bench.app, name="bench")
app.add_typer(compose.app, name="compose")
app.command()(demo)
app.command()(codec.codec_server)
app.command()(codec.codec_key)

# what `hybrid test` runs before pytest, in this order; each must pass
LINTS = (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"])


@app.command()
def worker(
    verbose: bool = False,
    task_queue: Annotated[
        list[str] | None,
        typer.Option(help="Serve only this task queue (repeatable); default: all of them."),
    ] = None,
) -> None:
    """Run the worker for every task queue until SIGTERM/SIGINT."""
    from worker.run import run_worker

    setup_logging(verbose)
    asyncio.run(run_worker(get_settings(), task_queues=task_queue or ()))


@app.command()
def migrate() -> None:
    """Apply the pending PostgreSQL migrations."""
    from core.db.migrate import apply_migrations

    applied = apply_migrations(get_settings().postgres_dsn)
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@app.command()
def smoke(message: str = "hello from the smoke check") -> None:
    """Run the smoke workflow through the worker and print its result."""
    from core.temporal import connect
    from domain.smoke import SmokeInput
    from workflows.smoke import SmokeWorkflow

    settings = get_settings()

    async def run() -> str:
        client = await connect(settings)
        result = await client.execute_workflow(
            SmokeWorkflow.run,
            SmokeInput(message=message),
            id=f"smoke-{uuid.uuid4().hex[:12]}",
            task_queue=settings.order_task_queue,
        )
        return result.model_dump_json()

    console.print_json(asyncio.run(run()))


@app.command()
def seed() -> None:
    """Load the demo stock and customers (idempotent: restocks up to the seed levels)."""
    from tools.seed import seed as load_seed

    load_seed(get_settings().postgres_dsn)
    console.print("seeded inventory and customers")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """Lint, type-check, then run the tests (pytest; they bring up the stack they need).

    Arguments go to pytest: `./hybrid test -m "not integration"` is the fast loop."""
    os.chdir(PROJECT_ROOT)
    for tool, *arguments in LINTS:
        console.print(f"==> {tool} {' '.join(arguments)}", highlight=False)
        if subprocess.run([str(Path(sys.executable).parent / tool), *arguments]).returncode:
            raise typer.Exit(code=1)
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *ctx.args])


def main() -> None:
    try:
        app()
    except ActionableError as error:
        console.print("[bold red]error:[/] ", end="")
        console.print(str(error), highlight=False, markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
