"""Values that each field accepts and the engines behind it would not: refused by the models at
the boundary, before any side effect. Each case is one that got through before (issue 16)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from psycopg.errors import NumericValueOutOfRange, UniqueViolation
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contract import implements
from activities.fraud.alerts import AlertRouterActivities
from core.settings import Settings
from domain.fraud.monitor import CepThresholds, MonitorRequest
from domain.names import kafka_name_problem
from domain.orders.examples import an_order
from domain.orders.models import MAX_AMOUNT, BusinessError, OrderItem, OrderRequest, StepOutcome
from domain.pipeline.models import EtlRunRequest, PipelineRequest, TrainingRequest
from domain.smoke import SmokeInput


def refused(model: type[BaseModel], **fields: Any) -> str:
    with pytest.raises(ValidationError) as error:
        model.model_validate(fields)
    return str(error.value)


def test_an_order_whose_total_the_database_cannot_hold_is_refused() -> None:
    largest = OrderItem(sku="SKU-A", quantity=1, unit_price=MAX_AMOUNT)
    lines = [largest, largest.model_copy(update={"sku": "SKU-B"})]
    order = an_order().model_dump() | {"items": [line.model_dump() for line in lines]}
    assert "is above 9999999999.99" in refused(OrderRequest, **order)
    assert OrderRequest.model_validate(order | {"items": [largest.model_dump()]})


def test_a_review_timeout_beyond_a_timer_is_refused() -> None:
    order = an_order().model_dump()
    assert "review_timeout" in refused(OrderRequest, **order | {"review_timeout": "P9999D"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("watch_period", timedelta(seconds=-10)),  # continued as new 39 times in 75 s
        ("poll_interval", timedelta(0)),
        ("source_topic", "transaktionen-ü"),  # Flink restarted the job forever
        ("alerts_topic", ""),
        ("group_id", "x" * 250),
        ("parallelism", 0),
    ],
)
def test_a_monitor_the_engines_cannot_run_is_refused(field: str, value: Any) -> None:
    assert field in refused(MonitorRequest, job_name="fraud-cep", **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("velocity_window_s", 100_000_000_000),  # beyond Flink's INTERVAL SECOND(6)
        ("card_testing_large", 1e300),  # beyond the job's DECIMAL amounts
        ("velocity_count", 10**9),
        ("travel_min_km", 50_000.0),  # farther than anywhere on Earth
        ("escalation_factor", 1.0),
    ],
)
def test_thresholds_the_cep_job_cannot_take_are_refused(field: str, value: Any) -> None:
    assert field in refused(CepThresholds, **{field: value})


def test_names_that_become_paths_or_kafka_names_are_bounded() -> None:
    long = "x" * 10_000
    assert "run_id" in refused(EtlRunRequest, topic="transactions", run_id=long)
    assert "topic" in refused(EtlRunRequest, topic=long, run_id="etl-1")
    assert "model_name" in refused(PipelineRequest, model_name=long)
    assert "run_id" in refused(EtlRunRequest, topic="transactions", run_id="../../etc")


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (SmokeInput, {"message": "hi"}),
        (EtlRunRequest, {"topic": "transactions", "run_id": "etl-1"}),
        (TrainingRequest, {"version_id": "v1", "topic": "transactions", "etl_run_ids": ["r1"]}),
        (PipelineRequest, {}),
    ],
)
def test_a_misspelt_field_is_refused_not_ignored(model: type[BaseModel], fields: dict) -> None:
    assert model.model_validate(fields)
    assert "Extra inputs are not permitted" in refused(model, **fields, tpoic="transactions")


@pytest.mark.parametrize("group", ["", ".", "..", "alerts router", "grüppe", "x" * 250])
def test_a_consumer_group_kafka_cannot_take_is_named(group: str) -> None:
    problem = kafka_name_problem(group, "consumer group")
    assert problem is not None
    assert "is not a Kafka consumer group" in problem


async def test_the_router_refuses_an_empty_group_before_librdkafka_sees_it() -> None:
    """librdkafka aborted the whole worker process on an empty group (a C assertion): had the
    check not come first, this test would have taken pytest down with it."""
    router = AlertRouterActivities(Settings.model_construct(), None, None)  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as error:
        await ActivityEnvironment().run(router.route_alerts, "")
    assert error.value.non_retryable
    assert error.value.type == "InvalidInput"


@activity.defn(name="record_order_probe")
async def declared_probe(order: OrderRequest) -> StepOutcome:
    raise NotImplementedError


@pytest.mark.parametrize(
    "database_error",
    [NumericValueOutOfRange("numeric field overflow"), UniqueViolation("duplicate key")],
)
async def test_data_the_database_refuses_fails_at_once_not_after_minutes(
    database_error: Exception,
) -> None:
    """An order whose total overflowed numeric(12, 2) retried record_order for 9 min 47 s."""

    @implements(declared_probe)
    async def record(order: OrderRequest) -> StepOutcome:
        raise database_error

    with pytest.raises(ApplicationError) as error:
        await ActivityEnvironment().run(record, an_order())
    assert error.value.non_retryable
    assert error.value.type == BusinessError.INVALID_DATA
    assert str(database_error) in str(error.value)
