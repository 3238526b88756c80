"""The pipeline end to end on data the project's generator did not make: a small dataset built
to the Fraud Detection Handbook's simulator design, imported, put through the ETL, trained on
and judged with the protocol, next to the two baselines, per the dataset's own scenarios."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from temporalio.client import Client

from core.kafka import create_topic
from core.settings import Settings
from domain.fraud.dataset import ColumnMapping
from domain.fraud.dataset_import import import_dataset
from domain.pipeline.models import (
    BASELINE_MODELS,
    Evaluation,
    PipelineRequest,
    PipelineResult,
    TrainingSettings,
)
from tests.support.worker import ThreadedWorker
from tools.bench.handbook_dataset import SCENARIO_NAMES, write_dataset
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

pytestmark = pytest.mark.usefixtures("stack")

HANDBOOK = ColumnMapping.parse(
    "txn_id=TRANSACTION_ID,card_id=CUSTOMER_ID,merchant_id=TERMINAL_ID,amount=TX_AMOUNT,"
    "event_time=TX_DATETIME,label=TX_FRAUD,scenario=TX_FRAUD_SCENARIO"
)


async def test_an_imported_dataset_is_trained_on_and_judged_against_the_baselines(
    client: Client, base_settings: Settings, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    settings = base_settings.model_copy(
        update={
            "transactions_topic": create_topic(base_settings, "dataset-tx", partitions=2),
            "lake_dir": tmp_path / "lake",
            "model_store_dir": tmp_path / "models",
            "fraud_model_name": f"test-dataset-{suffix}",
            "order_task_queue": f"test-dataset-orders-{suffix}",
            "fraud_task_queue": f"test-dataset-fraud-{suffix}",
            "pipeline_task_queue": f"test-dataset-{suffix}",
        }
    )
    # 300 customers over 50 days: ~30,000 transactions, a few percent fraud
    summary = write_dataset(tmp_path / "handbook.csv", customers=300, terminals=600, days=50)
    report = import_dataset(
        settings, tmp_path / "handbook.csv", HANDBOOK, settings.transactions_topic
    )
    assert report.rows_imported == summary.rows

    with ThreadedWorker(settings):
        result: PipelineResult = await client.execute_workflow(
            FeaturePipelineWorkflow.run,
            PipelineRequest(
                topic=settings.transactions_topic,
                model_name=settings.fraud_model_name,
                training=TrainingSettings(trials=2, card_k=20),
            ),
            id=f"test-dataset-pipeline-{suffix}",
            task_queue=settings.pipeline_task_queue,
        )

    assert result.etl.rows == summary.rows
    evaluation = result.training.evaluation
    assert evaluation is not None
    assert set(evaluation.models) == {"candidate", *BASELINE_MODELS}
    # a 7-day gap left out, then the test period: the last fifth of the rows, less those of
    # cards known compromised by their day (most of this small population's, by then)
    split = evaluation.protocol
    assert split.delay_seconds == 7 * 86400
    assert split.test_rows + split.known_card_rows_removed == pytest.approx(
        summary.rows / 5, rel=0.01
    )
    assert split.test_rows > 1000
    assert evaluation.k == 20
    # recall per scenario under the dataset's own scenario names
    recalled = set(evaluation.models["candidate"].recall_by_scenario)
    assert recalled <= set(SCENARIO_NAMES.values())
    assert "compromised_terminal" in recalled
    for metrics in evaluation.models.values():
        assert 0.5 < metrics.auc_roc <= 1
    with psycopg.connect(settings.postgres_dsn) as conn:
        stored = conn.execute(
            "select evaluation from model_versions where version_id = %s",
            (result.training.version_id,),
        ).fetchone()
    assert stored is not None
    assert Evaluation.model_validate(stored[0]) == evaluation
