"""`hybrid`: the command line of the reference application."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.db.connections import connect
from core.settings import PROJECT_ROOT, Settings, get_settings
from stack.base import StackError

if TYPE_CHECKING:
    from tools.demo import DemoReport

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Temporal-driven order saga and fraud detection: local stack, worker, demo.",
)
stack_app = typer.Typer(no_args_is_help=True, help="The embedded local stack of real services.")
app.add_typer(stack_app, name="stack")
console = Console(width=140 if not sys.stdout.isatty() else None)


def _setup_logging(verbose: bool = False) -> None:
    from core.observability import setup_logging

    setup_logging(get_settings(), verbose)


def _fail(exc: Exception) -> typer.Exit:
    console.print("[bold red]error:[/] ", end="")
    console.print(str(exc), highlight=False, markup=False)
    return typer.Exit(code=1)


ServiceOption = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="Only this service (repeatable).")
]


@stack_app.command("up")
def stack_up(
    service: ServiceOption = None,
    worker: Annotated[bool, typer.Option(help="Also start the worker.")] = False,
) -> None:
    """Start the services that are not running and wait until all are healthy."""
    from stack.launcher import Stack

    _setup_logging()
    try:
        started = Stack(get_settings()).up(service, with_worker=worker)
    except StackError as exc:
        raise _fail(exc) from exc
    console.print(f"started: {', '.join(started) or 'nothing (all running)'}")
    _print_status(get_settings())


@stack_app.command("down")
def stack_down(service: ServiceOption = None) -> None:
    """Stop the services the stack started (and only those)."""
    from stack.launcher import Stack

    stopped = Stack(get_settings()).down(service)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Each service, its health, memory and URL."""
    _print_status(get_settings())


@stack_app.command("serve")
def stack_serve(
    service: Annotated[str, typer.Argument(help="The service, as `stack status` names it.")],
) -> None:
    """Run one service in the foreground, in place of this process (a container's).

    The command, configuration and environment that `stack up` starts in the background."""
    from stack.launcher import Stack

    try:
        [selected] = Stack(get_settings()).select([service])
        selected.serve()
    except StackError as exc:
        raise _fail(exc) from exc


@stack_app.command("jars")
def stack_jars() -> None:
    """Resolve the jars of every infra/jvm module into the stack directory.

    Maven runs only for a module whose manifest changed; the project image does this when it
    is built, so that its containers never need Maven."""
    from core.toolchain import jvm_modules, maven_jars

    settings = get_settings()
    try:
        for module in jvm_modules():
            console.print(f"{module}: {maven_jars(settings, module)}", highlight=False)
    except StackError as exc:
        raise _fail(exc) from exc


@stack_app.command("topics")
def stack_topics() -> None:
    """Create the project's Kafka topics that are missing.

    `stack up` does this once its broker is healthy; this is for a broker it did not start,
    such as the compose file's."""
    from core.kafka import ensure_topics

    settings = get_settings()
    ensure_topics(settings)
    console.print(
        f"topics ready: {settings.transactions_topic}, {settings.alerts_topic}, "
        f"{settings.dead_letter_topic}",
        highlight=False,
    )


def _print_status(settings: Settings) -> None:
    from stack.launcher import Stack

    table = Table(title=f"local stack ({settings.stack_dir})")
    for column in ("service", "state", "pid", "RSS MiB", "URL", "what"):
        table.add_column(column)
    colour = {"healthy": "green", "unhealthy": "red", "stopped": "dim"}
    for row in Stack(settings).status():
        table.add_row(
            row.name,
            f"[{colour[row.state]}]{row.state}[/]",
            str(row.pid or ""),
            f"{row.rss_mib:.0f}" if row.rss_mib is not None else "",
            row.url or "",
            row.description,
        )
    table.add_row(
        "spark",
        "on demand",
        "",
        "",
        settings.spark_master,
        "spark-submit per job (no long-running service locally)",
    )
    console.print(table)
    _print_urls(settings)


def _print_urls(settings: Settings) -> None:
    console.print(
        f"Temporal UI:   {settings.temporal_ui_url}\n"
        f"Flink UI:      {settings.flink_ui_url}\n"
        f"Ray dashboard: {settings.ray_dashboard_url}"
    )


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

    _setup_logging(verbose)
    try:
        asyncio.run(run_worker(get_settings(), task_queues=task_queue or ()))
    except RuntimeError as exc:
        raise _fail(exc) from exc


@app.command()
def migrate() -> None:
    """Apply the pending PostgreSQL migrations."""
    from core.db.migrate import apply_migrations

    applied = apply_migrations(get_settings().postgres_dsn)
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@app.command()
def smoke(message: str = "hello from the smoke check") -> None:
    """Run the smoke workflow through the worker and print its result."""
    try:
        result = asyncio.run(_run_smoke(get_settings(), message))
    except RuntimeError as exc:
        raise _fail(exc) from exc
    console.print_json(result.model_dump_json())


async def _run_smoke(settings: Settings, message: str):
    from core.temporal import connect
    from domain.smoke import SmokeInput
    from workflows.smoke import SmokeWorkflow

    client = await connect(settings)
    return await client.execute_workflow(
        SmokeWorkflow.run,
        SmokeInput(message=message),
        id=f"smoke-{uuid.uuid4().hex[:12]}",
        task_queue=settings.order_task_queue,
    )


@app.command()
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
    trials: TrialsOption = 4,
) -> None:
    """The whole story: fraud monitor, live stream, orders through the saga, the feature
    pipeline, orders scored by the new champion; a summary and the invariant check."""
    from stack.launcher import Stack
    from tools.demo import DemoConfig, run_demo

    _setup_logging()
    settings = get_settings()
    config = DemoConfig(
        orders=orders, stream_rate=stream_rate, stream_seconds=stream_seconds, trials=trials
    )
    try:
        if local_stack:
            console.print("bringing the local stack up (the first time takes a few minutes)")
            Stack(settings).up(with_worker=True)
        report = asyncio.run(run_demo(settings, config, lambda line: console.print(line)))
    except (StackError, RuntimeError) as exc:
        raise _fail(exc) from exc
    _print_demo_report(report)
    _print_urls(settings)
    if report.violations:
        raise typer.Exit(code=1)
    if local_stack:
        console.print("The stack keeps running; stop it with `./hybrid stack down`.")


def _print_demo_report(report: DemoReport) -> None:
    outcomes = Table("order outcome", "orders", title=f"demo run {report.run_id}")
    for status, count in sorted(report.outcomes.items()):
        outcomes.add_row(status, str(count))
    compensations = Table("compensation", "done")
    for name, count in sorted(report.compensations.items()):
        compensations.add_row(name, str(count))
    console.print(outcomes, compensations)
    if report.evaluation is not None:
        detection = Table("pattern", "labelled", "found", "alerts", "precision", "recall")
        for score in [*report.evaluation.scores, report.evaluation.overall]:
            detection.add_row(
                score.pattern,
                str(score.labels),
                str(score.detected),
                str(score.alerts),
                f"{score.precision:.3f}",
                f"{score.recall:.3f}",
            )
        console.print(detection, report.evaluation.lines()[-1], highlight=False)
    models = Table("model version", "holdout PR-AUC", "precision@budget", "aliases")
    for version, pr_auc, precision, aliases in report.models:
        models.add_row(version, f"{pr_auc:.3f}", f"{precision:.3f}", aliases)
    scored = Table("order scored by the champion", "from", "score", "outcome")
    for order in report.scored:
        score = f"{order.model_score:.3f}" if order.model_score is not None else "n/a"
        scored.add_row(order.order_id, order.label, score, order.status.value)
    console.print(models, scored)
    if report.pipeline is not None:
        console.print(f"pipeline: {report.pipeline.decision.value} ({report.pipeline.reason})")
    if report.violations:
        console.print(f"[bold red]invariants violated ({len(report.violations)}):[/]")
        for violation in report.violations:
            console.print(f"  {violation}", highlight=False, markup=False)
    else:
        console.print(f"[green]invariants hold for all {len(report.results)} orders of the run[/]")


histories_app = typer.Typer(no_args_is_help=True, help="Workflow histories for the replay tests.")
app.add_typer(histories_app, name="histories")


@histories_app.command("record")
def histories_record(
    tag: Annotated[str, typer.Option(help="Version tag in the file names, e.g. v2.")],
    branch: Annotated[list[str] | None, typer.Option(help="Only this branch (repeatable).")] = None,
) -> None:
    """Run every saga branch on the local stack and store its history under tests/histories."""
    from tools.histories import record

    _setup_logging()
    try:
        written = asyncio.run(record(get_settings(), tag, branch))
    except RuntimeError as exc:
        raise _fail(exc) from exc
    for path in written:
        console.print(f"recorded {path.relative_to(PROJECT_ROOT)}")


stream_app = typer.Typer(no_args_is_help=True, help="Card transactions and fraud detection.")
app.add_typer(stream_app, name="stream")


@stream_app.command("generate")
def stream_generate(
    rate: Annotated[float, typer.Option(help="Legitimate events per second.")] = 200,
    duration: Annotated[float, typer.Option(help="Seconds of traffic.")] = 60,
    seed: Annotated[int, typer.Option(help="Same seed, same stream.")] = 7,
    fraud_share: Annotated[float, typer.Option(help="Scenarios per legitimate event.")] = 0.01,
    malformed_share: Annotated[float, typer.Option(help="Malformed messages share.")] = 0.002,
    realtime: Annotated[bool, typer.Option(help="Pace on the wall clock.")] = True,
    run_id: Annotated[str | None, typer.Option(help="Prefix of card and txn ids.")] = None,
) -> None:
    """Send labelled card transactions to the transactions topic; labels go to PostgreSQL."""
    from domain.fraud.generator import produce

    settings = get_settings()
    run = run_id or uuid.uuid4().hex[:6]
    stats = produce(
        settings.kafka_bootstrap_servers,
        settings.transactions_topic,
        settings.postgres_dsn,
        run_id=run,
        seed=seed,
        rate=rate,
        duration_s=duration,
        fraud_share=fraud_share,
        malformed_share=malformed_share,
        realtime=realtime,
    )
    scenarios = ", ".join(f"{k.value} {v}" for k, v in sorted(stats.scenarios.items()))
    console.print(
        f"run {run}: {stats.events} events ({stats.events / stats.seconds:.0f}/s),"
        f" {stats.malformed} malformed, scenarios: {scenarios}"
    )
    console.print(f"evaluate with: ./hybrid stream evaluate {run}")


@stream_app.command("evaluate")
def stream_evaluate(run_id: str) -> None:
    """Precision, recall and detection latency of the alerts for one generator run."""
    from domain.fraud.evaluation import evaluate

    for line in evaluate(get_settings().postgres_dsn, run_id).lines():
        console.print(line, highlight=False)


@stream_app.command("start")
def stream_start(
    job_name: Annotated[
        str, typer.Option(help="The Flink job's (deterministic) name.")
    ] = "fraud-cep",
) -> None:
    """Start FraudMonitorWorkflow (the CEP job) and AlertRouterWorkflow, if not running."""
    from client.fraud import start_fraud_workflows

    try:
        started = asyncio.run(start_fraud_workflows(get_settings(), job_name))
    except RuntimeError as exc:
        raise _fail(exc) from exc
    console.print(started)


etl_app = typer.Typer(no_args_is_help=True, help="Batch feature ETL with Spark.")
app.add_typer(etl_app, name="etl")


@etl_app.command("run")
def etl_run(
    run_id: Annotated[
        str | None, typer.Option(help="Re-run (or finish) this run; default: a new run.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Default: the transactions topic.")] = None,
) -> None:
    """Features for the records that arrived since the last run, as Parquet in the lake."""
    import time
    import uuid

    from domain.pipeline.etl import EtlJobFailed, EtlRunUnfinished, plan_run, run_features_job

    _setup_logging()
    settings = get_settings()
    run_id = run_id or f"etl-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    try:
        plan = plan_run(settings, topic or settings.transactions_topic, run_id)
        ranges = ", ".join(f"{r.partition}:[{r.start_offset},{r.end_offset})" for r in plan.ranges)
        console.print(f"run {plan.run_id}: {plan.records} records of {plan.topic} ({ranges})")
        result = run_features_job(settings, plan)
    except (EtlRunUnfinished, EtlJobFailed, ValueError) as exc:
        raise _fail(exc) from exc
    note = " (already committed)" if result.already_committed else ""
    console.print(f"{result.rows} feature rows in {result.output}{note}", highlight=False)


pipeline_app = typer.Typer(
    no_args_is_help=True, help="The feature pipeline: Spark ETL, Ray training, model promotion."
)
app.add_typer(pipeline_app, name="pipeline")
schedule_app = typer.Typer(no_args_is_help=True, help="The nightly Temporal Schedule.")
pipeline_app.add_typer(schedule_app, name="schedule")

MarginOption = Annotated[
    float, typer.Option(help="PR-AUC the challenger must gain over the champion.")
]
TrialsOption = Annotated[int, typer.Option(help="Hyperparameter candidates (Ray tasks).")]


def _pipeline_request(margin: float, trials: int):
    from domain.pipeline.models import PipelineRequest, TrainingSettings

    settings = get_settings()
    return PipelineRequest(
        topic=settings.transactions_topic,
        model_name=settings.fraud_model_name,
        promotion_margin=margin,
        training=TrainingSettings(trials=trials),
    )


@pipeline_app.command("run")
def pipeline_run(
    promotion_margin: MarginOption = 0.005,
    trials: TrialsOption = 4,
    wait: Annotated[bool, typer.Option(help="Wait for the result.")] = True,
) -> None:
    """Run the pipeline once through the worker: ETL, training, promotion."""
    from client.pipeline import start_pipeline

    settings = get_settings()

    async def go():
        handle = await start_pipeline(settings, _pipeline_request(promotion_margin, trials))
        console.print(
            f"started {handle.id}: temporal workflow query -w {handle.id} --name stage; "
            f"Temporal UI {settings.temporal_ui_url}, Ray dashboard {settings.ray_dashboard_url}"
        )
        return await handle.result() if wait else None

    try:
        result = asyncio.run(go())
    except Exception as exc:
        raise _fail(exc) from exc
    if result is not None:
        console.print_json(result.model_dump_json())


@pipeline_app.command("models")
def pipeline_models() -> None:
    """The registry: versions of the fraud model, their holdout metrics and aliases."""

    settings = get_settings()
    with connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "select v.version_id, round((v.metrics->>'pr_auc')::numeric, 4),"
            " round((v.metrics->>'precision_at_budget')::numeric, 4),"
            " coalesce(string_agg(a.alias, ',' order by a.alias), ''), v.created_at"
            " from model_versions v left join model_aliases a using (version_id)"
            " where v.model_name = %s group by v.version_id order by v.created_at",
            (settings.fraud_model_name,),
        ).fetchall()
    table = Table("version", "PR-AUC", "precision@budget", "aliases", "created")
    for row in rows:
        table.add_row(*(str(value) for value in row))
    console.print(table)


@schedule_app.command("create")
def schedule_create(
    cron: Annotated[str, typer.Option(help="When, as a cron expression (UTC).")] = "0 2 * * *",
    promotion_margin: MarginOption = 0.005,
    trials: TrialsOption = 4,
) -> None:
    """Create the nightly schedule (or update it to these settings)."""
    from client.pipeline import create_schedule

    handle, created = asyncio.run(
        create_schedule(get_settings(), _pipeline_request(promotion_margin, trials), cron)
    )
    console.print(f"{'created' if created else 'updated'} schedule {handle.id} ({cron})")


@schedule_app.command("trigger")
def schedule_trigger() -> None:
    """Run the scheduled pipeline now (skipped if one is still running)."""
    asyncio.run(_on_schedule(lambda handle: handle.trigger(), "triggered"))


@schedule_app.command("pause")
def schedule_pause(note: str = "paused from the CLI") -> None:
    asyncio.run(_on_schedule(lambda handle: handle.pause(note=note), "paused"))


@schedule_app.command("unpause")
def schedule_unpause(note: str = "unpaused from the CLI") -> None:
    asyncio.run(_on_schedule(lambda handle: handle.unpause(note=note), "unpaused"))


@schedule_app.command("delete")
def schedule_delete() -> None:
    asyncio.run(_on_schedule(lambda handle: handle.delete(), "deleted"))


@schedule_app.command("show")
def schedule_show() -> None:
    """Whether it is paused, the next runs, the recent ones."""
    from client.pipeline import describe_schedule

    description = asyncio.run(describe_schedule(get_settings()))
    state, info = description.schedule.state, description.info
    console.print(f"schedule {description.id}: {'paused' if state.paused else 'active'}")
    if state.note:
        console.print(f"note: {state.note}")
    for when in info.next_action_times[:3]:
        console.print(f"next run: {when.isoformat()}")
    for action in info.recent_actions[-5:]:
        started = action.action
        console.print(f"ran: {action.scheduled_at.isoformat()} -> {started.workflow_id}")


async def _on_schedule(operation: Callable[[Any], Any], done: str) -> None:
    from temporalio.service import RPCError

    from client.pipeline import schedule_handle

    handle = await schedule_handle(get_settings())
    try:
        await operation(handle)
    except RPCError as exc:
        raise _fail(
            RuntimeError(
                f"schedule {handle.id}: {exc} (create it: ./hybrid pipeline schedule create)"
            )
        ) from exc
    console.print(f"{done} schedule {handle.id}")


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
app.add_typer(bench_app, name="bench")


def _print_report(run: Callable[[], Any]) -> None:
    """Run a benchmark and print its report's lines; a failure is one clear error line."""
    try:
        report = run()
    except RuntimeError as exc:
        raise _fail(exc) from exc
    for line in report.lines():
        console.print(line, highlight=False)


@bench_app.command("saga")
def bench_saga(
    orders: Annotated[int, typer.Option(help="Workflows per workload.")] = 400,
    concurrency: Annotated[int, typer.Option(help="Workflows in flight.")] = 50,
) -> None:
    """Order sagas against a no-op workflow of the same shape, on the local stack."""
    from tools.bench.saga import run_benchmark

    _print_report(lambda: asyncio.run(run_benchmark(get_settings(), orders, concurrency)))


@bench_app.command("stream")
def bench_stream(
    events: Annotated[int, typer.Option(help="Records preloaded for the rate runs.")] = 100_000,
    latency_seconds: Annotated[float, typer.Option(help="Length of the real-time run.")] = 30,
) -> None:
    """Kafka -> CEP -> alerts against a pass-through job; latency at half the CEP rate."""
    from tools.bench.stream import run_stream_benchmark

    _setup_logging()
    settings = get_settings()
    _print_report(lambda: asyncio.run(run_stream_benchmark(settings, events, latency_seconds)))


@bench_app.command("etl")
def bench_etl(
    events: Annotated[int, typer.Option(help="Transactions in the smaller run.")] = 25_000,
) -> None:
    """Feature ETL at two input sizes 5x apart, and the fixed cost of a run."""
    from tools.bench.etl import run_etl_benchmark

    _setup_logging()
    _print_report(lambda: run_etl_benchmark(get_settings(), events))


@bench_app.command("pipeline")
def bench_pipeline(
    events: Annotated[int, typer.Option(help="Labelled events for the first run.")] = 60_000,
) -> None:
    """The feature pipeline end to end: ETL, training, promotion, and cancellation latency."""
    from tools.bench.pipeline import run_pipeline_benchmark

    _setup_logging()
    _print_report(lambda: asyncio.run(run_pipeline_benchmark(get_settings(), events)))


@app.command()
def seed() -> None:
    """Load the demo stock and customers (idempotent: restocks up to the seed levels)."""
    from tools.seed import seed as load_seed

    load_seed(get_settings().postgres_dsn)
    console.print("seeded inventory and customers")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """Lint, then run the test suite (pytest); it brings up the stack services it needs."""
    os.chdir(PROJECT_ROOT)
    for lint in (["check", "."], ["format", "--check", "."]):
        if subprocess.run([str(Path(sys.executable).parent / "ruff"), *lint]).returncode != 0:
            raise typer.Exit(code=1)
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *ctx.args])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
