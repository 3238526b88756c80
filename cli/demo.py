"""`hybrid demo`: the whole story, and its summary."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli.console import TrialsOption, console, print_urls, setup_logging
from cli.models_report import detail_tables
from core.settings import get_settings

if TYPE_CHECKING:
    from tools.demo.report import DemoReport


def demo(
    local_stack: Annotated[
        bool,
        typer.Option(
            help="Start the embedded local stack and its worker first; with --no-local-stack "
            "the demo uses the services the HYBRID_* settings point at (compose does this)."
        ),
    ] = True,
    orders: Annotated[int, typer.Option(help="Ordinary orders in the batch.")] = 16,
    stream_rate: Annotated[float, typer.Option(help="Transactions per second.")] = 200,
    stream_seconds: Annotated[float, typer.Option(help="Length of the live stream.")] = 90,
    history_days: Annotated[
        float, typer.Option(help="Days of past traffic sent before the live stream (0: none).")
    ] = 40,
    trials: TrialsOption = 4,
) -> None:
    """The whole story: fraud monitor, live stream, orders through the saga, the feature
    pipeline, orders scored by the new champion; a summary and the invariant check."""
    from stack.launcher import Stack
    from tools.demo.report import DemoConfig
    from tools.demo.story import run_demo

    setup_logging()
    settings = get_settings()
    config = DemoConfig(
        orders=orders,
        stream_rate=stream_rate,
        stream_seconds=stream_seconds,
        history_days=history_days,
        trials=trials,
    )
    began = time.monotonic()
    if local_stack:
        console.print("bringing the local stack up (the first time takes a few minutes)")
        Stack(settings).up(with_worker=True)
    stack_up_s = time.monotonic() - began
    # the story's lines quote engine logs (`[train] trial 2/4`): printed as they are, not markup
    report = asyncio.run(
        run_demo(settings, config, lambda line: console.print(line, markup=False, highlight=False))
    )
    if local_stack:
        report.phases.insert(0, ("stack up", stack_up_s))
    print_report(report)
    print_urls(settings)
    if report.violations or report.shortfalls():
        raise typer.Exit(code=1)
    if local_stack:
        console.print("The stack keeps running; stop it with `./hybrid stack down`.")


def print_report(report: DemoReport) -> None:
    outcomes = Table("order outcome", "orders", title=f"demo run {report.run_id}")
    for status, count in sorted(report.outcomes.items()):
        outcomes.add_row(status, str(count))
    compensations = Table("compensation", "done")
    for name, count in sorted(report.compensations.items()):
        compensations.add_row(name, str(count))
    console.print(outcomes, compensations)
    if report.evaluation is not None:
        detection = Table("pattern", "labelled", "found", "alerts", "precision", "recall")
        for pattern in [*report.evaluation.scores, report.evaluation.overall]:
            detection.add_row(
                pattern.pattern,
                str(pattern.labels),
                str(pattern.detected),
                str(pattern.alerts),
                f"{pattern.precision:.3f}",
                f"{pattern.recall:.3f}",
            )
        console.print(detection)
        for note in report.evaluation.notes():
            console.print(note, highlight=False)
    models = Table("model version", "holdout PR-AUC", "precision@budget", "aliases")
    for version, pr_auc, precision, aliases in report.models:
        models.add_row(version, f"{pr_auc:.3f}", f"{precision:.3f}", aliases)
    scored = Table("order scored by the champion", "from", "score", "outcome")
    for order in report.scored:
        shown = f"{order.model_score:.3f}" if order.model_score is not None else "n/a"
        scored.add_row(order.order_id, order.label, shown, order.status.value)
    console.print(models, scored)
    trained = report.pipeline.training if report.pipeline is not None else None
    if trained is not None and trained.evaluation is not None:
        console.print(*detail_tables(trained.version_id, trained.evaluation.model_dump()))
    if report.pipeline is not None:
        console.print(f"pipeline: {report.pipeline.decision.value} ({report.pipeline.reason})")
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.phases)
    total = sum(seconds for _, seconds in report.phases)
    console.print(f"time: {total:.0f} s ({phases})", highlight=False)
    if report.violations:
        console.print(f"[bold red]invariants violated ({len(report.violations)}):[/]")
        for violation in report.violations:
            console.print(f"  {violation}", highlight=False, markup=False)
    else:
        console.print(f"[green]invariants hold for all {len(report.results)} orders of the run[/]")
    for shortfall in report.shortfalls():
        console.print(f"[bold red]{shortfall}[/]", highlight=False)
