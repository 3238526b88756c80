"""`hybrid stream ...`: card transactions, the CEP job's monitor and the detector's scores."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.console import console
from core.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Card transactions and fraud detection.")


@app.command("generate")
def stream_generate(
    rate: Annotated[float, typer.Option(help="Legitimate events per second.")] = 200,
    duration: Annotated[float, typer.Option(help="Seconds of traffic.")] = 60,
    seed: Annotated[int, typer.Option(help="Same seed, same stream.")] = 7,
    fraud_share: Annotated[float, typer.Option(help="Scenarios per legitimate event.")] = 0.01,
    malformed_share: Annotated[float, typer.Option(help="Malformed messages share.")] = 0.002,
    realtime: Annotated[bool, typer.Option(help="Pace on the wall clock.")] = True,
    run_id: Annotated[str | None, typer.Option(help="Prefix of card and txn ids.")] = None,
    history_days: Annotated[
        float, typer.Option(help="Days of traffic before now, sent at once, first.")
    ] = 0,
    history_per_day: Annotated[float, typer.Option(help="Charges a day in the history.")] = 2500,
) -> None:
    """Send labelled card transactions to the transactions topic; labels go to PostgreSQL.

    Merchants are breached about every other day of event time, for 14 days each: a history of
    40 days or more gives the merchant-risk features (known 7 days late) something to see."""
    from domain.fraud.generator import produce

    settings = get_settings()
    run = run_id or uuid.uuid4().hex[:6]
    stats = produce(
        settings,
        settings.transactions_topic,
        run_id=run,
        seed=seed,
        rate=rate,
        duration_s=duration,
        fraud_share=fraud_share,
        malformed_share=malformed_share,
        realtime=realtime,
        history_days=history_days,
        history_per_day=history_per_day,
    )
    scenarios = ", ".join(f"{k.value} {v}" for k, v in sorted(stats.scenarios.items()))
    console.print(
        f"run {run}: {stats.events} events ({stats.events / stats.seconds:.0f}/s),"
        f" {stats.malformed} malformed, scenarios: {scenarios}; {stats.merchant_breaches}"
        f" merchants breached, {stats.breached_charges} charges there labelled"
        " merchant_compromise"
    )
    since = f" --since {stats.live_start.isoformat()}" if history_days and stats.live_start else ""
    console.print(f"evaluate with: ./hybrid stream evaluate {run}{since}")


@app.command("import")
def stream_import(
    file: Annotated[Path, typer.Argument(help="A .csv, .parquet or .jsonl (JSON lines) file.")],
    map_: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Our fields to its columns: card_id=CARD,merchant_id=SHOP,amount=AMT,"
            "event_time=TS[,label=IS_FRAUD,scenario=KIND,...].",
        ),
    ] = None,
    mapping_file: Annotated[
        Path | None, typer.Option(help='A TOML file of `field = "COLUMN"` lines.')
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Default: the transactions topic.")] = None,
    speed: Annotated[
        float | None, typer.Option(help="Times real time (default: as fast as possible).")
    ] = None,
    epoch_unit: Annotated[
        str | None, typer.Option(help="Unit of numeric event times: s or ms.")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: FILE.rejects.csv).")
    ] = None,
) -> None:
    """Import a labelled transaction dataset: events to Kafka keyed by card in event-time order,
    labels to PostgreSQL, rejected rows to a file; importing it again adds nothing."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from domain.fraud.dataset import ColumnMapping
    from domain.fraud.dataset_import import import_dataset

    if epoch_unit not in (None, "s", "ms"):
        raise typer.BadParameter("s or ms", param_hint="--epoch-unit")
    settings = get_settings()
    mapping = ColumnMapping.parse(map_, mapping_file)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows, {task.fields[rate]:,.0f}/s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=0, rate=0.0)
        phase: dict[str, float] = {}  # when each phase began

        def progress(name: str, done: int, total: int) -> None:
            elapsed = max(time.monotonic() - phase.setdefault(name, time.monotonic()), 1e-6)
            bar.update(task, description=name, completed=done, total=total, rate=done / elapsed)

        report = import_dataset(
            settings,
            file,
            mapping,
            topic or settings.transactions_topic,
            epoch_unit=epoch_unit,  # type: ignore[arg-type]
            speed=speed,
            rejects_file=rejects,
            on_progress=progress,
        )
    for line in report.lines():
        console.print(line, highlight=False)


@app.command("evaluate")
def stream_evaluate(
    run_id: str,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"],
            help="Score only scenarios from then on (the live part after a history).",
        ),
    ] = None,
) -> None:
    """Precision, recall and detection latency of the alerts for one generator run."""
    from domain.fraud.evaluation import evaluate

    for line in evaluate(get_settings().postgres_dsn, run_id, since).lines():
        console.print(line, highlight=False)


@app.command("start")
def stream_start(
    job_name: Annotated[
        str, typer.Option(help="The Flink job's (deterministic) name.")
    ] = "fraud-cep",
) -> None:
    """Start FraudMonitorWorkflow (the CEP job) and AlertRouterWorkflow, if not running."""
    from client.fraud import start_fraud_workflows

    console.print(asyncio.run(start_fraud_workflows(get_settings(), job_name)))
