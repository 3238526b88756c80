"""Logs, metrics and traces, configured from the settings in one place.

- Logs: text for people, or one JSON object per line (`HYBRID_LOG_FORMAT=json`) for a log
  collector. Records from `workflow.logger` and `activity.logger` carry the workflow and activity
  ids as structured fields (`temporal_workflow`, `temporal_activity`).
- Metrics: the Temporal SDK's own metrics (workflow and activity counts and latencies) plus the
  project's counters, on a Prometheus endpoint served by the worker's runtime.
- Traces: OpenTelemetry spans for every workflow, activity, signal, update and query through the
  Temporal interceptor; off unless `HYBRID_OTEL_EXPORTER` chooses an exporter.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter
from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.errors import InvalidInput
from core.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_formatter(settings: Settings) -> logging.Formatter:
    if settings.log_format == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def setup_logging(settings: Settings, verbose: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(settings))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime that serves the SDK's metrics for Prometheus, or None when off."""
    if not settings.metrics_bind_address:
        return None
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=settings.metrics_bind_address)
            )
        )
    except ValueError as exc:
        raise InvalidInput(
            f"the worker cannot serve metrics on {settings.metrics_bind_address} ({exc}): is "
            "another worker running?",
            "set HYBRID_METRICS_BIND_ADDRESS to a free host:port, or to an empty value to turn "
            "metrics off",
        ) from exc


def tracing_interceptors(settings: Settings) -> list[Interceptor]:
    """The OpenTelemetry interceptor with the chosen exporter; none when tracing is off."""
    if settings.otel_exporter == "none":
        return []
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )
    from temporalio.contrib.opentelemetry import TracingInterceptor

    exporter: SpanExporter
    if settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint)
    else:
        exporter = ConsoleSpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "hybrid-worker"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return [TracingInterceptor()]


def count_job_state(engine: str, state: str) -> None:
    """From an activity: an engine job (Flink, Spark, Ray) was seen in `state` (at each start,
    attach or change that the supervising activity observes)."""
    from temporalio import activity

    activity.metric_meter().create_counter(
        "engine_job_states", "Engine job states observed by the supervising activities"
    ).add(1, {"engine": engine, "state": state})
