"""`hybrid bench ...`: benchmarks that print figures (tools/bench/)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Protocol

import typer

from cli.console import console, setup_logging
from core.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")


class Report(Protocol):
    def lines(self) -> list[str]: ...


def print_report(report: Report) -> None:
    for line in report.lines():
        console.print(line, highlight=False)


@app.command("saga")
def bench_saga(
    orders: Annotated[int, typer.Option(help="Workflows per workload.")] = 400,
    concurrency: Annotated[int, typer.Option(help="Workflows in flight.")] = 50,
) -> None:
    """Order sagas against a no-op workflow of the same shape, on the local stack."""
    from tools.bench.saga import run_benchmark

    print_report(asyncio.run(run_benchmark(get_settings(), orders, concurrency)))


@app.command("stream")
def bench_stream(
    events: Annotated[int, typer.Option(help="Records preloaded for the rate runs.")] = 100_000,
    latency_seconds: Annotated[float, typer.Option(help="Length of the real-time run.")] = 30,
) -> None:
    """Kafka -> detection -> alerts: the SQL CEP job and the fused detector against a pass-through
    job; the fused detector's latency at half its rate."""
    from tools.bench.stream import run_stream_benchmark

    setup_logging()
    print_report(asyncio.run(run_stream_benchmark(get_settings(), events, latency_seconds)))


@app.command("etl")
def bench_etl(
    events: Annotated[int, typer.Option(help="Transactions in the smaller run.")] = 25_000,
) -> None:
    """Feature ETL at two input sizes 5x apart, and the fixed cost of a run."""
    from tools.bench.etl import run_etl_benchmark

    setup_logging()
    print_report(run_etl_benchmark(get_settings(), events))


@app.command("handbook-dataset")
def bench_handbook_dataset(
    file: Annotated[Path, typer.Argument(help="Where to write it: .parquet, else CSV.")],
    customers: int = 5000,
    terminals: int = 10000,
    days: int = 183,
    seed: int = 0,
) -> None:
    """A labelled dataset to the published design of the Fraud Detection Handbook's simulator
    (about 1.75M transactions, 0.8% fraud, three scenarios), for `bench model` and `stream
    import`."""
    from tools.bench.handbook_dataset import write_dataset

    summary = write_dataset(file, customers, terminals, days, seed)
    by = ", ".join(f"{name} {n:,}" for name, n in summary.frauds_by_scenario.items())
    console.print(
        f"{file}: {summary.rows:,} rows, {summary.frauds:,} frauds ({summary.fraud_share:.2%}:"
        f" {by}), event time {summary.first_time} .. {summary.last_time}",
        highlight=False,
    )


@app.command("model")
def bench_model(
    file: Annotated[Path, typer.Argument(help="A labelled dataset: .csv, .parquet or .jsonl.")],
    map_: Annotated[
        str | None,
        typer.Option("--map", help="Its columns, as for `hybrid stream import --map`."),
    ] = None,
    mapping_file: Annotated[
        Path | None, typer.Option(help='A TOML file of `field = "COLUMN"` lines.')
    ] = None,
    trials: Annotated[int, typer.Option(help="Hyperparameter candidates.")] = 4,
) -> None:
    """A dataset end to end: import, ETL at two sizes 5x apart and its fixed cost, training,
    and the test period's metrics of the model next to a logistic regression and a random
    forest."""
    from domain.fraud.dataset import ColumnMapping
    from tools.bench.model import run_model_benchmark

    setup_logging()
    mapping = ColumnMapping.parse(map_, mapping_file)
    print_report(asyncio.run(run_model_benchmark(get_settings(), file, mapping, trials)))


@app.command("pipeline")
def bench_pipeline(
    events: Annotated[int, typer.Option(help="Labelled events for the first run.")] = 60_000,
) -> None:
    """The feature pipeline end to end: ETL, training, promotion, and cancellation latency."""
    from tools.bench.pipeline import run_pipeline_benchmark

    setup_logging()
    print_report(asyncio.run(run_pipeline_benchmark(get_settings(), events)))


@app.command("cli")
def bench_cli(
    runs: Annotated[int, typer.Option(help="Runs of each command.")] = 5,
) -> None:
    """How long `hybrid --help` and the commands that talk to one service take to answer."""
    from tools.bench.cli import run_cli_benchmark

    print_report(run_cli_benchmark(runs))
