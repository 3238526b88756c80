"""`hybrid etl ...` and `hybrid pipeline ...`: the feature ETL on its own, and the pipeline of
ETL, training and promotion, once or on its nightly schedule."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.console import MarginOption, TrialsOption, console, setup_logging
from core.settings import get_settings

if TYPE_CHECKING:
    from temporalio.client import ScheduleHandle

    from domain.pipeline.models import PipelineRequest

etl_app = typer.Typer(no_args_is_help=True, help="Batch feature ETL with Spark.")
app = typer.Typer(
    no_args_is_help=True, help="The feature pipeline: Spark ETL, Ray training, model promotion."
)
schedule_app = typer.Typer(no_args_is_help=True, help="The nightly Temporal Schedule.")
app.add_typer(schedule_app, name="schedule")


@etl_app.command("run")
def etl_run(
    run_id: Annotated[
        str | None, typer.Option(help="Re-run (or finish) this run; default: a new run.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Default: the transactions topic.")] = None,
) -> None:
    """Features for the records that arrived since the last run, as Parquet in the lake."""
    from domain.pipeline.etl import plan_run, run_features_job

    setup_logging()
    settings = get_settings()
    run_id = run_id or f"etl-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    plan = plan_run(settings, topic or settings.transactions_topic, run_id)
    ranges = ", ".join(f"{r.partition}:[{r.start_offset},{r.end_offset})" for r in plan.ranges)
    console.print(f"run {plan.run_id}: {plan.records} records of {plan.topic} ({ranges})")
    result = run_features_job(settings, plan)
    note = " (already committed)" if result.already_committed else ""
    console.print(f"{result.rows} feature rows in {result.output}{note}", highlight=False)


@etl_app.command("abandon")
def etl_abandon(
    run_id: Annotated[str, typer.Argument(help="The unfinished (PLANNED) run to give up.")],
) -> None:
    """Give up an unfinished run that keeps failing: it stops blocking its topic, and the next
    run reads its records again."""
    from domain.pipeline.etl import abandon_run

    abandon_run(get_settings(), run_id)
    console.print(f"abandoned ETL run {run_id}: the next run of its topic plans afresh")


def pipeline_request(margin: float, trials: int) -> PipelineRequest:
    from domain.pipeline.models import PipelineRequest, TrainingSettings

    settings = get_settings()
    return PipelineRequest(
        topic=settings.transactions_topic,
        model_name=settings.fraud_model_name,
        promotion_margin=margin,
        training=TrainingSettings(trials=trials),
    )


@app.command("run")
def pipeline_run(
    promotion_margin: MarginOption = 0.005,
    trials: TrialsOption = 4,
    wait: Annotated[bool, typer.Option(help="Wait for the result.")] = True,
) -> None:
    """Run the pipeline once through the worker: ETL, training, promotion."""
    from client.pipeline import start_pipeline

    settings = get_settings()

    async def go() -> None:
        handle = await start_pipeline(settings, pipeline_request(promotion_margin, trials))
        console.print(
            f"started {handle.id}: temporal workflow query -w {handle.id} --name stage; "
            f"Temporal UI {settings.temporal_ui_url}, Ray dashboard {settings.ray_dashboard_url}"
        )
        if wait:
            console.print_json((await handle.result()).model_dump_json())

    asyncio.run(go())


@app.command("models")
def pipeline_models(
    version: Annotated[
        str | None, typer.Option(help="The version to detail; default: the latest.")
    ] = None,
) -> None:
    """The registry: versions of the fraud model with their aliases and test-period metrics next
    to the two baselines, then one version in detail (every model, recall per scenario, the
    split)."""
    from cli.models_report import detail_tables, versions_table
    from core.db.connections import connect

    settings = get_settings()
    with connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "select v.version_id, coalesce(string_agg(a.alias, ',' order by a.alias), ''),"
            " v.metrics, v.evaluation, v.created_at"
            " from model_versions v left join model_aliases a using (version_id)"
            " where v.model_name = %s group by v.version_id order by v.created_at",
            (settings.fraud_model_name,),
        ).fetchall()
    if not rows:
        console.print(
            f"no versions of {settings.fraud_model_name} yet: `./hybrid pipeline run` trains one"
        )
        return
    console.print(versions_table(rows))
    chosen = [row for row in rows if row[0] == version] if version else rows[-1:]
    if not chosen:
        raise typer.BadParameter(f"no version {version} of {settings.fraud_model_name}")
    for table in detail_tables(chosen[0][0], chosen[0][3]):
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
        create_schedule(get_settings(), pipeline_request(promotion_margin, trials), cron)
    )
    console.print(f"{'created' if created else 'updated'} schedule {handle.id} ({cron})")


@schedule_app.command("trigger")
def schedule_trigger() -> None:
    """Run the scheduled pipeline now (skipped if one is still running)."""
    _on_schedule(lambda handle: handle.trigger(), "triggered")


@schedule_app.command("pause")
def schedule_pause(note: str = "paused from the CLI") -> None:
    """Stop the nightly runs until unpaused."""
    _on_schedule(lambda handle: handle.pause(note=note), "paused")


@schedule_app.command("unpause")
def schedule_unpause(note: str = "unpaused from the CLI") -> None:
    """Resume the nightly runs."""
    _on_schedule(lambda handle: handle.unpause(note=note), "unpaused")


@schedule_app.command("delete")
def schedule_delete() -> None:
    """Delete the schedule (the runs it started are kept)."""
    _on_schedule(lambda handle: handle.delete(), "deleted")


@schedule_app.command("show")
def schedule_show() -> None:
    """Whether it is paused, the next runs, the recent ones."""
    from temporalio.client import ScheduleActionExecutionStartWorkflow

    from client.pipeline import describe_schedule

    description = asyncio.run(describe_schedule(get_settings()))
    state, info = description.schedule.state, description.info
    console.print(f"schedule {description.id}: {'paused' if state.paused else 'active'}")
    if state.note:
        console.print(f"note: {state.note}")
    for when in info.next_action_times[:3]:
        console.print(f"next run: {when.isoformat()}")
    for action in info.recent_actions[-5:]:
        if isinstance(action.action, ScheduleActionExecutionStartWorkflow):
            started = action.action.workflow_id
            console.print(f"ran: {action.scheduled_at.isoformat()} -> {started}")


def _on_schedule(operation: Callable[[ScheduleHandle], Awaitable[Any]], done: str) -> None:
    from client.pipeline import on_schedule

    handle = asyncio.run(on_schedule(get_settings(), operation))
    console.print(f"{done} schedule {handle.id}")
