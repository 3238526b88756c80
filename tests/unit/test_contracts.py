"""One owner per contract that crosses a process, and a check for every copy of it.

The engine jobs cannot import the project, so they keep copies: of the transaction event's
fields (the Flink and the Spark job), of the CEP job's arguments (its argparse defaults; the
fused job's Java rules), of the
feature list (the Spark job); and each activity implements a declaration of its workflow. Each
test fails when a copy drifts from its owner."""

from __future__ import annotations

import re
import shlex
import typing
from datetime import UTC, datetime
from decimal import Decimal
from types import NoneType
from typing import Any, Literal, get_args, get_origin

import pytest
from pyspark.sql import types as spark_types
from temporalio import activity

from activities.contract import ContractMismatch, implements
from activities.fraud.flink_jobs import FUSED_DETECTOR, cep_job_arguments
from activities.pipeline.model_training import TrainingActivities
from core.settings import Settings
from domain.fraud.events import SCHEMA_VERSION, Transaction
from domain.fraud.monitor import CepJobSpec, CepThresholds, MonitorRequest
from domain.orders.models import OrderRef, StepOutcome
from domain.pipeline import evaluation
from domain.pipeline.etl import JDBC_PASSWORD_VARIABLE, features_application, spark_arguments
from domain.pipeline.features import FEATURES
from domain.pipeline.models import BASELINE_MODELS, EtlPlan, PartitionRange, TrainingRequest
from domain.pipeline.scoring import CardHistory, order_features
from jobs.flink import fraud_cep, fused_detector
from jobs.ray import train_fraud_model
from jobs.spark import features as spark_features
from worker.registrations import declared_activities, registrations
from workflows import smoke
from workflows.fraud import activities as fraud_activities
from workflows.orders import activities as order_activities
from workflows.pipeline import activities as pipeline_activities

SETTINGS = Settings.model_construct()
# how each engine reads a field of the JSON event, by the field's Python type (a Decimal is a
# string on the wire, and so is an event time for Spark, which parses it itself)
FLINK_TYPES = {int: "INT", str: "STRING", Decimal: "STRING", float: "DOUBLE"}
FLINK_TYPES[datetime] = "TIMESTAMP_LTZ(3)"
SPARK_TYPES = {int: spark_types.IntegerType(), str: spark_types.StringType()}
SPARK_TYPES |= {Decimal: spark_types.StringType(), datetime: spark_types.StringType()}


def python_type(field: str) -> type:
    annotation = Transaction.model_fields[field].annotation
    if get_origin(annotation) is Literal:
        return type(get_args(annotation)[0])
    assert isinstance(annotation, type)
    return annotation


# --- the transaction event ------------------------------------------------------------------


def test_the_flink_job_reads_the_events_fields_with_their_types() -> None:
    columns = fraud_cep.TRANSACTION_COLUMNS
    assert set(columns) <= set(Transaction.model_fields)
    assert {name: FLINK_TYPES[python_type(name)] for name in columns} == columns


def test_the_spark_job_reads_the_events_fields_with_their_types() -> None:
    schema = {field.name: field.dataType for field in spark_features.TRANSACTION.fields}
    assert set(schema) <= set(Transaction.model_fields)
    assert {name: SPARK_TYPES[python_type(name)] for name in schema} == schema


def test_the_wire_format_is_what_the_jobs_parse() -> None:
    event = Transaction(
        txn_id="t-1",
        card_id="c-1",
        customer_id="cu-1",
        merchant_id="m-1",
        merchant_category="grocery",
        amount=Decimal("12.30"),
        currency="EUR",
        country="FR",
        lat=48.85,
        lon=2.35,
        channel="pos",
        event_time=datetime(2026, 3, 1, 8, 0, 1, 234567, tzinfo=UTC),
    ).model_dump(mode="json")
    # both jobs keep only schema version 1; Spark parses this exact time format
    assert event["schema_version"] == SCHEMA_VERSION == 1
    assert event["event_time"] == "2026-03-01T08:00:01.234Z"
    assert event["amount"] == "12.30"


# --- the CEP job's arguments ------------------------------------------------------------------


def job_options() -> dict[str, Any]:
    """The CEP job's options and their defaults, the Kafka address (a setting) left out."""
    return {
        action.dest: action.default
        for action in fraud_cep.parser()._actions
        if action.dest not in ("help", "bootstrap_servers")
    }


def spec_defaults() -> dict[str, Any]:
    fields = {
        name: f.default
        for name, f in CepJobSpec.model_fields.items()
        if name not in ("thresholds", "engine")  # which job: not an argument of it
    }
    return fields | CepThresholds().model_dump()


def test_the_jobs_argparse_defaults_are_the_specs_defaults() -> None:
    assert job_options() == spec_defaults()


def test_the_submitted_command_line_is_the_spec() -> None:
    spec = CepJobSpec(
        job_name="fraud-cep-x",
        source_topic="tx",
        group_id="g",
        startup_mode="earliest-offset",
        bounded=True,
        parallelism=2,
        idle_timeout_s=5,
        thresholds=CepThresholds(velocity_count=11, travel_max_kmh=850.5),
    )
    parsed = vars(fraud_cep.parser().parse_args(cep_job_arguments(SETTINGS, spec)))
    assert parsed.pop("bootstrap_servers") == SETTINGS.kafka_bootstrap_servers
    assert (
        parsed == spec.model_dump(exclude={"thresholds", "engine"}) | spec.thresholds.model_dump()
    )


def test_the_fused_job_reads_every_threshold_and_nothing_else() -> None:
    """Its launcher picks the thresholds out of the arguments by their patterns' prefixes, and
    its Java rules read each by name (Rules.FIELDS)."""
    arguments = vars(fraud_cep.parser().parse_args(["--bootstrap-servers", "k"]))
    picked = {name for name in arguments if name.startswith(fused_detector.PATTERN_PREFIXES)}
    assert picked == set(CepThresholds.model_fields)
    rules_java = (FUSED_DETECTOR / "src/main/java/io/example/hybrid/fraud/Rules.java").read_text()
    fields_block = re.search(r"FIELDS\s*=\s*Set\.of\((.*?)\);", rules_java, re.DOTALL)
    assert fields_block is not None
    assert set(re.findall(r'"(\w+)"', fields_block.group(1))) == set(CepThresholds.model_fields)


def test_a_monitor_submits_its_own_spec() -> None:
    request = MonitorRequest(job_name="fraud-cep-y", thresholds=CepThresholds(velocity_count=9))
    assert request.job_spec() == CepJobSpec(
        job_name="fraud-cep-y", thresholds=CepThresholds(velocity_count=9)
    )


# --- the features ---------------------------------------------------------------------------


def test_the_spark_job_computes_exactly_the_features() -> None:
    assert spark_features.COMPUTED_FEATURES == FEATURES


def test_the_scoring_computes_exactly_the_features() -> None:
    history = CardHistory(
        count_5m=0,
        count_1h=0,
        sum_1h=0,
        count_24h=0,
        sum_24h=0,
        sum_squares_24h=0,
        count_7d=0,
        sum_7d=0,
        count_30d=0,
        sum_30d=0,
        max_24h=None,
        countries_24h=[],
        mean_total=None,
        previous_at=None,
        cep_alerts_24h=0,
    )
    frame = order_features(10.0, "FR", datetime(2026, 1, 1, tzinfo=UTC), history)
    assert list(frame.columns) == FEATURES


def test_both_jobs_are_given_the_feature_list() -> None:
    plan = EtlPlan(
        run_id="r1", topic="tx", ranges=[PartitionRange(partition=0, start_offset=0, end_offset=1)]
    )
    etl = spark_features.arguments(spark_arguments(SETTINGS, plan))
    assert etl.features.split(",") == FEATURES

    request = TrainingRequest(version_id="v1", topic="tx", etl_run_ids=["r1"])
    job = TrainingActivities(SETTINGS, pool=None).training_job(request)  # type: ignore[arg-type]
    training = train_fraud_model.parser().parse_args(shlex.split(job.entrypoint)[2:])
    assert training.features.split(",") == FEATURES


def test_the_spark_job_gets_the_database_password_in_its_environment_only() -> None:
    settings = SETTINGS.model_copy(
        update={"postgres_dsn": "postgresql://hybrid:s3cret-pw@localhost:55432/hybrid"}
    )
    plan = EtlPlan(run_id="r1", topic="tx", ranges=[])
    application = features_application(settings, plan)
    assert not any("s3cret-pw" in part for part in application.command)
    assert spark_features.JDBC_PASSWORD_VARIABLE == JDBC_PASSWORD_VARIABLE
    assert application.environment == {JDBC_PASSWORD_VARIABLE: "s3cret-pw"}
    etl = spark_features.arguments(spark_arguments(settings, plan))
    assert etl.jdbc_url == "jdbc:postgresql://localhost:55432/hybrid?user=hybrid"


def test_the_spark_job_refuses_a_feature_it_cannot_compute() -> None:
    plan = EtlPlan(run_id="r1", topic="tx", ranges=[])
    arguments = spark_arguments(SETTINGS, plan)
    arguments[arguments.index("--features") + 1] = "amount,card_age_days"
    with pytest.raises(SystemExit):
        spark_features.arguments(arguments)


# --- activities: declared by the workflows, implemented once ---------------------------------


def test_every_declared_activity_is_served_on_its_task_queue() -> None:
    served = {
        queue: {activity.__name__ for activity in registration.activities}
        for queue, registration in registrations(
            SETTINGS,
            client=None,  # type: ignore[arg-type]  # nothing connects while registering
            pool=None,  # type: ignore[arg-type]
            provider_pool=None,  # type: ignore[arg-type]
        ).items()
    }
    declared = {
        SETTINGS.order_task_queue: {
            *declared_activities(order_activities),
            *declared_activities(smoke),
            "noop_step",
        },
        SETTINGS.fraud_task_queue: set(declared_activities(fraud_activities)),
        SETTINGS.pipeline_task_queue: set(declared_activities(pipeline_activities)),
    }
    assert served == declared


def test_an_implementation_that_drifts_from_its_declaration_is_refused() -> None:
    async def release_stock(order: OrderRef) -> StepOutcome:
        raise NotImplementedError

    registered = implements(order_activities.release_stock)(release_stock)
    assert activity._Definition.must_from_callable(registered).name == "release_stock"
    assert registered.__wrapped__ is release_stock  # type: ignore[attr-defined]

    async def release_by_id(order_id: str) -> StepOutcome:
        raise NotImplementedError

    with pytest.raises(ContractMismatch, match="implements activity release_stock"):
        implements(order_activities.release_stock)(release_by_id)


def test_declarations_say_what_they_take_and_return() -> None:
    for module in (order_activities, fraud_activities, pipeline_activities):
        for name in declared_activities(module):
            hints = typing.get_type_hints(getattr(module, name))
            assert len(hints) == 2, f"{name}: one annotated argument and a result"
            assert hints["return"] is not NoneType or name == "stop_engine_job", name


def test_the_training_job_writes_the_test_columns_and_models_the_evaluation_reads() -> None:
    assert set(train_fraud_model.TEST_COLUMNS) == set(evaluation.TEST_COLUMNS)
    assert train_fraud_model.BASELINES == BASELINE_MODELS
