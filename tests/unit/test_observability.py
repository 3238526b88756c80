"""Structured logs and tracing configuration, without services."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from temporalio import activity
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import ActivityEnvironment

from core.observability import log_formatter, tracing_interceptors
from core.settings import Settings


class Captured(logging.Handler):
    def __init__(self, formatter: logging.Formatter):
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@activity.defn
async def reserve_demo_stock(sku: str) -> None:
    activity.logger.info("reserving %s", sku)


async def test_json_logs_carry_the_workflow_and_activity_ids() -> None:
    handler = Captured(log_formatter(Settings(log_format="json")))
    logger = logging.getLogger("temporalio.activity")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        environment = ActivityEnvironment()
        environment.info = replace(
            environment.info, workflow_id="order-42", activity_type="reserve_demo_stock"
        )
        await environment.run(reserve_demo_stock, "SKU-1")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [line] = handler.lines
    record = json.loads(line)
    assert record["level"] == "INFO"
    assert record["message"].startswith("reserving SKU-1")
    assert record["temporal_activity"]["activity_type"] == "reserve_demo_stock"
    assert record["temporal_activity"]["workflow_id"] == "order-42"


def test_tracing_is_off_by_default_and_on_with_an_exporter() -> None:
    assert tracing_interceptors(Settings()) == []
    [interceptor] = tracing_interceptors(Settings(otel_exporter="console"))
    assert isinstance(interceptor, TracingInterceptor)
