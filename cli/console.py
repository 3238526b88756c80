"""What every command shares: the console, logging, and where the UIs are."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from core.settings import Settings, get_settings

console = Console(width=140 if not sys.stdout.isatty() else None)

TrialsOption = Annotated[int, typer.Option(help="Hyperparameter candidates (Ray tasks).")]
MarginOption = Annotated[
    float, typer.Option(help="PR-AUC the challenger must gain over the champion.")
]


def setup_logging(verbose: bool = False) -> None:
    from core.observability import setup_logging as configure

    configure(get_settings(), verbose)


def print_urls(settings: Settings) -> None:
    console.print(
        f"Temporal UI:   {settings.temporal_ui_url}\n"
        f"Flink UI:      {settings.flink_ui_url}\n"
        f"Ray dashboard: {settings.ray_dashboard_url}"
    )
