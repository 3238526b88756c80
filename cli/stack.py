"""`hybrid stack ...`: the embedded local stack of real services."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.console import console, print_urls, setup_logging
from core.settings import Settings, get_settings

app = typer.Typer(no_args_is_help=True, help="The embedded local stack of real services.")

ServiceOption = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="Only this service (repeatable).")
]


@app.command("up")
def stack_up(
    service: ServiceOption = None,
    worker: Annotated[bool, typer.Option(help="Also start the worker.")] = False,
) -> None:
    """Start the services that are not running and wait until all are healthy."""
    from stack.launcher import Stack

    setup_logging()
    started = Stack(get_settings()).up(service, with_worker=worker)
    console.print(f"started: {', '.join(started) or 'nothing (all running)'}")
    print_status(get_settings())


@app.command("down")
def stack_down(
    service: ServiceOption = None,
    purge: Annotated[
        bool,
        typer.Option(
            help="Then remove everything the stack created: its data, logs, lake and model"
            " store (the venv and the package caches stay)."
        ),
    ] = False,
) -> None:
    """Stop the services the stack started (and only those)."""
    from stack.launcher import Stack

    stack = Stack(get_settings())
    if purge:
        if service:
            raise typer.BadParameter("--purge removes the whole stack: leave out --service")
        for path in stack.purge():
            console.print(f"removed {path}", highlight=False)
        return
    stopped = stack.down(service)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command("status")
def stack_status() -> None:
    """Each service, its health, memory and URL."""
    print_status(get_settings())


@app.command("serve")
def stack_serve(
    service: Annotated[str, typer.Argument(help="The service, as `stack status` names it.")],
) -> None:
    """Run one service in the foreground, in place of this process (a container's).

    The command, configuration and environment that `stack up` starts in the background."""
    from stack.launcher import Stack

    [selected] = Stack(get_settings()).select([service])
    selected.serve()


@app.command("supervise", hidden=True)
def stack_supervise() -> None:
    """Restart the stack's services that crash, until SIGTERM (`stack up` starts this)."""
    import signal
    import threading

    from stack.launcher import Stack

    setup_logging()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Stack(get_settings()).supervisor().run_until(stop)


@app.command("jars")
def stack_jars() -> None:
    """Resolve the jars of every infra/jvm module into the stack directory, and build the fused
    fraud detector's jar.

    Maven runs only for a module whose manifest (or, for the detector, source) changed; the
    project image does this when it is built, so that its containers never need Maven."""
    from activities.fraud.flink_jobs import FUSED_DETECTOR
    from core.toolchain import built_jar, jvm_modules, maven_jars

    settings = get_settings()
    for module in jvm_modules():
        console.print(f"{module}: {maven_jars(settings, module)}", highlight=False)
    console.print(f"{FUSED_DETECTOR.name}: {built_jar(settings, FUSED_DETECTOR)}", highlight=False)


@app.command("topics")
def stack_topics() -> None:
    """Create the project's Kafka topics that are missing.

    `stack up` does this once its broker is healthy; this is for a broker it did not start,
    such as the compose file's."""
    from core.kafka import ensure_topics, project_topics

    settings = get_settings()
    ensure_topics(settings)
    console.print(f"topics ready: {', '.join(project_topics(settings))}", highlight=False)


def print_status(settings: Settings) -> None:
    from stack.launcher import Stack

    table = Table(title=f"local stack ({settings.stack_dir})")
    for column in ("service", "state", "pid", "restarts", "RSS MiB", "URL", "what"):
        table.add_column(column)
    colour = {
        "healthy": "green",
        "unhealthy": "red",
        "crashed": "red",
        "restarting": "yellow",
        "stopped": "dim",
    }
    rows = Stack(settings).status()
    for row in rows:
        table.add_row(
            row.name,
            f"[{colour[row.state]}]{row.state}[/]",
            str(row.pid or ""),
            str(row.restarts or ""),
            f"{row.rss_mib:.0f}" if row.rss_mib is not None else "",
            row.url or "",
            row.description,
        )
    table.add_row(
        "spark",
        "on demand",
        "",
        "",
        "",
        settings.spark_master,
        "spark-submit per job (no long-running service locally)",
    )
    console.print(table)
    for row in rows:
        if row.detail:
            console.print(f"{row.name}: {row.detail}", highlight=False)
    print_urls(settings)
