"""The feature pipeline on the real stack: Kafka, Spark (spark-submit), Ray (Jobs API),
PostgreSQL and Temporal, with a worker of its own (in-process, or a subprocess to kill).

Every test works on a topic, lake, model store and registry model name of its own, so neither
the demo's registry nor the other tests' data is touched."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from ray.job_submission import JobStatus, JobSubmissionClient
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError

from activities.orders.order import OrderActivities
from activities.orders.screening import ScreeningActivities
from client.pipeline import create_schedule
from core.db.connections import open_pool
from core.engines.spark import SparkApplication
from core.kafka import create_topic
from core.settings import Settings
from domain.fraud.generator import produce
from domain.orders.examples import an_order
from domain.orders.models import FraudDecision, Screening, ScreeningRequest
from domain.pipeline.models import (
    BASELINE_MODELS,
    PipelineDecision,
    PipelineRequest,
    PipelineResult,
    TrainingSettings,
)
from tests.support.waiting import wait_for
from tests.support.worker import ThreadedWorker, start_worker_process
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

pytestmark = pytest.mark.usefixtures("stack")

QUICK_TRAINING = TrainingSettings(trials=2)


@pytest.fixture(scope="module")
def pipeline_settings(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    suffix = uuid.uuid4().hex[:6]
    settings = base_settings.model_copy(
        update={
            "transactions_topic": create_topic(base_settings, "pipeline-tx", partitions=2),
            "lake_dir": tmp_path_factory.mktemp("lake"),
            "model_store_dir": tmp_path_factory.mktemp("models"),
            "fraud_model_name": f"test-fraud-{suffix}",
            "order_task_queue": f"test-pipeline-orders-{suffix}",
            "fraud_task_queue": f"test-pipeline-fraud-{suffix}",
            "pipeline_task_queue": f"test-pipeline-{suffix}",
        }
    )
    # a labelled stream with enough fraud for a time-based holdout
    send_labelled(settings, seed=51, duration_s=300, start=datetime(2026, 2, 1, 8, 0, tzinfo=UTC))
    return settings


def send_labelled(settings: Settings, seed: int, duration_s: float, start: datetime) -> None:
    produce(
        settings,
        settings.transactions_topic,
        run_id=f"pl{uuid.uuid4().hex[:6]}",
        seed=seed,
        rate=40,
        duration_s=duration_s,
        fraud_share=0.03,
        malformed_share=0.005,
        realtime=False,
        start=start,
    )


@pytest.fixture(scope="module")
def pipeline_worker(pipeline_settings: Settings) -> Iterator[ThreadedWorker]:
    with ThreadedWorker(pipeline_settings) as running:
        yield running


def request_for(settings: Settings, **changes: object) -> PipelineRequest:
    return PipelineRequest.model_validate(
        {
            "topic": settings.transactions_topic,
            "model_name": settings.fraud_model_name,
            "training": QUICK_TRAINING,
        }
        | changes
    )


async def start(client: Client, settings: Settings, **changes: object) -> WorkflowHandle:
    return await client.start_workflow(
        FeaturePipelineWorkflow.run,
        request_for(settings, **changes),
        id=f"test-pipeline-{uuid.uuid4().hex[:8]}",
        task_queue=settings.pipeline_task_queue,
    )


def aliases(settings: Settings) -> dict[str, str]:
    with psycopg.connect(settings.postgres_dsn) as conn:
        return dict(
            conn.execute(
                "select alias, version_id from model_aliases where model_name = %s",
                (settings.fraud_model_name,),
            ).fetchall()
        )


def hybrid_models(settings: Settings) -> str:
    """`hybrid pipeline models` for this test's model name, as a user reads it."""
    shown = subprocess.run(
        [sys.executable, "-m", "cli", "pipeline", "models"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"HYBRID_FRAUD_MODEL_NAME": settings.fraud_model_name, "COLUMNS": "250"},
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def ray_jobs_named(settings: Settings, submission_id: str) -> list:
    jobs = JobSubmissionClient(settings.ray_address).list_jobs()
    return [job for job in jobs if job.submission_id == submission_id]


def wait_until_training_runs(settings: Settings, workflow_id: str) -> str:
    submission_id = f"train-{settings.fraud_model_name}-{workflow_id}"
    wait_for(
        lambda: any(j.status == JobStatus.RUNNING for j in ray_jobs_named(settings, submission_id)),
        timeout_s=300,
        what=f"Ray job {submission_id} to run",
    )
    return submission_id


async def test_promotes_keeps_the_champion_and_rolls_a_failed_promotion_back(
    client: Client, pipeline_settings: Settings, pipeline_worker: ThreadedWorker
) -> None:
    settings = pipeline_settings
    first = await start(client, settings)
    result: PipelineResult = await first.result()

    # the first model becomes champion, and it is far better than a constant score
    assert result.decision == PipelineDecision.PROMOTED
    assert result.reason == "no champion yet"
    metrics = result.training.metrics
    assert metrics.positives > 20
    assert metrics.pr_auc > max(0.5, 5 * result.training.baseline_pr_auc)
    assert metrics.precision_at_budget > 0.5
    champion = result.training.version_id
    assert aliases(settings) == {"champion": champion, "challenger": champion}

    # judged on a test period after a left-out delay, next to baselines fitted on the same rows
    evaluation = result.training.evaluation
    assert evaluation is not None
    assert set(evaluation.models) == {"candidate", *BASELINE_MODELS}
    split = evaluation.protocol
    assert split.train_end < split.test_start
    assert split.delay_seconds == pytest.approx(
        (split.test_start - split.train_end).total_seconds(), abs=1
    )
    assert (split.test_rows, split.test_frauds) == (metrics.rows, metrics.positives)
    assert evaluation.models["candidate"].auc_roc > 0.9
    assert evaluation.models["candidate"].average_precision == pytest.approx(metrics.pr_auc)
    shown = await asyncio.to_thread(hybrid_models, settings)
    assert champion in shown
    assert "logistic_regression" in shown
    assert "random_forest" in shown
    assert await asyncio.to_thread(Path(result.training.artifact).is_file)

    with psycopg.connect(settings.postgres_dsn) as conn:
        lineage = conn.execute(
            "select etl_run_ids, etl_offsets, code_version, training_job from model_versions"
            " where version_id = %s",
            (champion,),
        ).fetchone()
        jobs = conn.execute(
            "select submission_id, engine, status, log_tail from engine_jobs"
            " where workflow_id like %s order by engine",
            (f"{first.id}-%",),
        ).fetchall()
    assert lineage is not None
    run_ids, offsets, code_version, training_job = lineage
    assert run_ids == [result.etl.run_id]
    assert list(offsets) == [result.etl.run_id]
    assert all(end > start == 0 for start, end in offsets[result.etl.run_id].values())
    assert len(code_version) == 16
    assert [(engine, status) for _, engine, status, _ in jobs] == [
        ("ray", "SUCCEEDED"),
        ("spark", "SUCCEEDED"),
    ]
    assert '"version_id"' in jobs[0][3], "the Ray job's log is kept with the run"
    assert len(ray_jobs_named(settings, training_job)) == 1
    with (
        pytest.raises(psycopg.errors.RaiseException, match="immutable"),
        psycopg.connect(settings.postgres_dsn) as conn,
    ):
        conn.execute("update model_versions set metrics = '{}' where version_id = %s", [champion])

    # no new records, the same data: the challenger cannot beat the champion by 0.5
    kept: PipelineResult = await (await start(client, settings, promotion_margin=0.5)).result()
    assert kept.decision == PipelineDecision.KEPT_CHAMPION
    assert kept.etl.rows == 0
    assert kept.training.champion_metrics is not None
    assert kept.training.champion_metrics.rows == kept.training.metrics.rows
    assert kept.training.evaluation is not None
    assert set(kept.training.evaluation.models) == {"candidate", "champion", *BASELINE_MODELS}
    assert aliases(settings) == {"champion": champion, "challenger": kept.training.version_id}

    # promoted, then the smoke check fails: the aliases go back to what they were
    failing = await start(client, settings, promotion_margin=-1, smoke_min_pr_auc=1.01)
    with pytest.raises(WorkflowFailureError) as failure:
        await failing.result()
    assert "rolled back" in str(failure.value.cause)
    assert "below the smoke check" in str(failure.value.cause)
    assert await failing.query(FeaturePipelineWorkflow.stage) == "ROLLED_BACK"
    rolled_back = f"{settings.fraud_model_name}-{failing.id}"
    assert aliases(settings) == {"champion": champion, "challenger": rolled_back}


async def test_the_fraud_screen_scores_orders_with_the_champion(
    pipeline_settings: Settings, seeded: None
) -> None:
    settings = pipeline_settings
    champion = aliases(settings).get("champion")
    assert champion, "the first test promotes a champion"
    pool = await open_pool(settings, max_size=2)
    try:
        orders, screening = OrderActivities(pool), ScreeningActivities(pool, settings)
        card = f"card-model-{uuid.uuid4().hex[:8]}"

        async def screen(country: str) -> Screening:
            order = an_order(
                {"SKU-HEADPHONES": 1}, card_id=card, country=country, unit_price="45.00"
            )
            await orders.record_order(order)
            return await screening.screen_order(
                ScreeningRequest(
                    order_id=order.order_id,
                    customer_id=order.customer_id,
                    card_id=card,
                    amount=order.total,
                    client_country=country,
                    ship_country=country,
                )
            )

        first = await screen("FR")
        for country in ["DE", "IT", "ES", "PT", "BE", "NL", "AT", "PL", "SE", "DK"]:
            burst = await screen(country)
    finally:
        await pool.close()
    assert first.model_version == burst.model_version == champion
    assert first.model_score is not None
    assert burst.model_score is not None
    assert 0 <= first.model_score < burst.model_score <= 1
    # a velocity burst across countries is what the model learned as fraud
    assert burst.model_score >= settings.fraud_model_review_score
    assert burst.decision == FraudDecision.REVIEW
    assert f"model {champion} scores" in burst.reasons[-1]


async def test_cancelling_the_pipeline_stops_the_ray_job(
    client: Client, pipeline_settings: Settings, pipeline_worker: ThreadedWorker
) -> None:
    settings = pipeline_settings
    handle = await start(client, settings, training=TrainingSettings(trials=8))
    submission_id = await asyncio.to_thread(wait_until_training_runs, settings, handle.id)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    # the workflow ends only once the job has stopped
    jobs = JobSubmissionClient(settings.ray_address)
    assert jobs.get_job_status(submission_id) == JobStatus.STOPPED
    with psycopg.connect(settings.postgres_dsn) as conn:
        status = conn.execute(
            "select status from engine_jobs where submission_id = %s", (submission_id,)
        ).fetchone()
    assert status == ("STOPPED",)


async def test_cancelling_during_the_etl_stops_the_spark_application(
    client: Client, pipeline_settings: Settings, pipeline_worker: ThreadedWorker
) -> None:
    settings = pipeline_settings
    # new records, so that the ETL has work to do
    send_labelled(settings, seed=53, duration_s=60, start=datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
    handle = await start(client, settings)
    application = SparkApplication(settings, f"features-etl-{handle.id}", command=[])
    await asyncio.to_thread(
        wait_for,
        lambda: (application.directory / "pid").exists() and application.poll() == "RUNNING",
        300,
        "the Spark application to run",
    )
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    # the workflow ends only once the whole process group is gone
    assert application.poll() == "STOPPED"
    pid = int((application.directory / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with psycopg.connect(settings.postgres_dsn) as conn:
        status = conn.execute(
            "select status from engine_jobs where submission_id = %s", (application.submission_id,)
        ).fetchone()
    assert status == ("STOPPED",)


async def test_the_schedule_is_created_triggered_paused_and_deleted(
    client: Client, pipeline_settings: Settings, pipeline_worker: ThreadedWorker
) -> None:
    settings = pipeline_settings.model_copy(
        update={"pipeline_schedule_id": f"test-schedule-{uuid.uuid4().hex[:6]}"}
    )
    handle, created = await create_schedule(settings, request_for(settings))
    assert created
    _, created_again = await create_schedule(settings, request_for(settings), cron="30 3 * * *")
    assert not created_again  # updated in place
    described = await handle.describe()
    assert [t.strftime("%H:%M") for t in described.info.next_action_times[:2]] == ["03:30"] * 2

    await handle.trigger()
    for _ in range(120):
        started = (await handle.describe()).info.recent_actions
        if started:
            break
        await asyncio.sleep(0.5)
    action = started[0].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    pipeline = client.get_workflow_handle(action.workflow_id)
    assert pipeline.id.startswith(settings.pipeline_schedule_id)
    assert (await pipeline.describe()).workflow_type == "FeaturePipelineWorkflow"
    await pipeline.cancel()  # enough to know the schedule starts it
    with pytest.raises(WorkflowFailureError):
        await pipeline.result()

    await handle.pause(note="maintenance")
    described = await handle.describe()
    assert described.schedule.state.paused
    assert described.schedule.state.note == "maintenance"
    await handle.delete()
    with pytest.raises(RPCError, match="not found"):
        await handle.describe()


async def test_worker_killed_mid_training_then_restarted(
    client: Client, pipeline_settings: Settings
) -> None:
    settings = pipeline_settings.model_copy(
        update={
            "pipeline_task_queue": f"{pipeline_settings.pipeline_task_queue}-killed",
            "order_task_queue": f"{pipeline_settings.order_task_queue}-killed",
            "fraud_task_queue": f"{pipeline_settings.fraud_task_queue}-killed",
        }
    )

    first = await start_worker_process(settings)
    handle = await start(client, settings, promotion_margin=-1)
    submission_id = await asyncio.to_thread(wait_until_training_runs, settings, handle.id)
    os.killpg(first.pid, signal.SIGKILL)
    await first.wait()

    second = await start_worker_process(settings)
    try:
        result: PipelineResult = await asyncio.wait_for(handle.result(), 600)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        await second.wait()
    assert result.decision == PipelineDecision.PROMOTED
    # the ETL run the cancelled pipeline left unfinished was taken over, not skipped
    assert result.etl.rows > 0
    # the restarted worker attached to the job the killed one had submitted
    [job] = ray_jobs_named(settings, submission_id)
    assert job.status == JobStatus.SUCCEEDED
    assert aliases(settings)["champion"] == result.training.version_id
