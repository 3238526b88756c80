"""The one place configuration comes from.

Every value is an environment variable prefixed ``HYBRID_`` (``HYBRID_TEMPORAL_ADDRESS``,
``HYBRID_POSTGRES_DSN`` ...). The defaults point at the embedded local stack; the compose file
sets the same variables to point at its containers. No other module reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYBRID_", extra="ignore")

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://localhost:8233"
    order_task_queue: str = "orders"
    fraud_task_queue: str = "fraud"
    pipeline_task_queue: str = "pipeline"
    pipeline_schedule_id: str = "nightly-feature-pipeline"

    # PostgreSQL
    postgres_dsn: str = "postgresql://hybrid:hybrid@localhost:55432/hybrid"

    # The simulated payment provider: latency per call, and injected fault rates (0 to 1).
    payment_latency_ms: int = Field(default=0, ge=0)
    payment_transient_error_rate: float = Field(default=0.0, ge=0, le=1)
    payment_timeout_rate: float = Field(default=0.0, ge=0, le=1)

    # Kafka
    kafka_bootstrap_servers: str = "localhost:19092"
    transactions_topic: str = "transactions"
    transactions_partitions: int = 4
    alerts_topic: str = "fraud-alerts"
    alerts_partitions: int = 2
    dead_letter_topic: str = "transactions-dlq"
    # the fused detector's rule sets (compacted: the latest per job) and its acknowledgements
    rules_topic: str = "fraud-rules"
    rules_applied_topic: str = "fraud-rules-applied"
    # how far each `hybrid stream import` got (compacted: the latest per file and topic)
    imports_topic: str = "dataset-imports"

    # Flink session cluster
    flink_rest_url: str = "http://localhost:8081"
    # Where the cluster's processes find each other and which interface they listen on. The
    # local stack keeps everything on localhost; in compose each process is its own container.
    flink_jobmanager_host: str = "localhost"
    flink_taskmanager_host: str = "localhost"
    flink_bind_host: str = "localhost"
    # The processes' memory (Flink's memory sizes: 1024m, 6g). The CEP job keeps per-card
    # pattern state on the heap: in a 3 GB TaskManager it held over half the heap, G1 marked
    # back to back and the job ran at half its rate. The demo's streams fit in 2048m.
    flink_jobmanager_process_size: str = Field(default="1024m", pattern=r"^\d+[kmg]?$")
    flink_taskmanager_process_size: str = Field(default="6144m", pattern=r"^\d+[kmg]?$")

    # Spark: jobs are spark-submit runs against this master; `local[2]` runs them in-process on
    # this machine, `spark://host:7077` sends the same job to a standalone cluster.
    spark_master: str = "local[2]"
    # the driver's heap; in local mode the driver is the executor too (Spark's default, 1g, is
    # short of a 37-day lookback over a few million transactions)
    spark_driver_memory: str = Field(default="3g", pattern=r"^\d+[kmg]?$")
    # Where each spark-submit a workflow starts keeps its pid, output and exit code, so that a
    # restarted worker attaches to the application instead of starting it twice.
    spark_apps_dir: Path = PROJECT_ROOT / ".stack" / "spark-apps"

    # Ray: the head's dashboard address, which also serves the Jobs API.
    ray_address: str = "http://localhost:8265"
    # A Python on every Ray node with the jobs' packages (jobs/ray/runtime_env.yaml) already
    # installed: the project image bakes one, so that no job installs packages at run time.
    # Unset, Ray installs them into an environment it caches per node (the local stack).
    ray_job_python: Path | None = None

    # Where a person opens the Flink UI and the Ray dashboard, when that differs from the address
    # the worker uses (in compose the worker says flink-jobmanager:8081, a browser localhost).
    # Empty means the same address.
    flink_ui_url: str = ""
    ray_dashboard_url: str = ""

    # Storage shared by the engines
    lake_dir: Path = PROJECT_ROOT / ".stack" / "lake"
    # the registry's model that the pipeline trains and the order saga's fraud screen uses
    fraud_model_name: str = "card-fraud"
    fraud_model_review_score: float = Field(default=0.9, ge=0, le=1)
    # how late fraud labels arrive (chargebacks take days): the merchant-risk features use only
    # labels this old, and the training protocol leaves this long a gap between train and test
    fraud_label_delay_days: int = Field(default=7, ge=0, le=60)
    model_store_dir: Path = PROJECT_ROOT / ".stack" / "models"

    # Observability: the worker's Prometheus endpoint (host:port; empty turns it off), OpenTelemetry
    # tracing through the Temporal interceptor (off unless an exporter is chosen; `otlp` sends
    # OTLP/HTTP to the endpoint), and the log format (`json` for log collectors).
    metrics_bind_address: str = "127.0.0.1:9464"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str = "http://localhost:4318/v1/traces"
    log_format: Literal["text", "json"] = "text"

    # Payload encryption (core/codec.py): `id=<base64 key>` pairs, the first encrypts, every
    # one decrypts; empty sends payloads in plain JSON. The codec server lets the Temporal UI
    # and CLI show them decrypted, to callers with its token.
    payload_keys: SecretStr = SecretStr("")
    codec_server_address: str = "127.0.0.1:8234"
    codec_server_token: SecretStr = SecretStr("")

    # Local stack only: where the launcher keeps state and logs, and the ports it needs beyond
    # the ones implied by the addresses above.
    stack_dir: Path = PROJECT_ROOT / ".stack"
    temporal_ui_port: int = 8233
    kafka_controller_port: int = 19093
    ray_gcs_port: int = 6390
    stack_health_timeout_s: float = Field(default=180.0, gt=0)
    # Java for Kafka and Flink; unset means the `java` on PATH.
    java_home: Path | None = Field(default=None, validation_alias="JAVA_HOME")

    @property
    def codec_server_url(self) -> str:
        return f"http://{self.codec_server_address}"

    @property
    def temporal_port(self) -> int:
        return _port(self.temporal_address)

    @property
    def postgres_port(self) -> int:
        return urlsplit(self.postgres_dsn).port or 5432

    @property
    def kafka_port(self) -> int:
        return _port(self.kafka_bootstrap_servers.split(",")[0])

    @property
    def flink_rest_port(self) -> int:
        return urlsplit(self.flink_rest_url).port or 8081

    @property
    def ray_dashboard_port(self) -> int:
        return urlsplit(self.ray_address).port or 8265

    @model_validator(mode="after")
    def _public_urls_default_to_the_service_urls(self) -> Settings:
        self.flink_ui_url = self.flink_ui_url or self.flink_rest_url
        self.ray_dashboard_url = self.ray_dashboard_url or self.ray_address
        return self


def _port(host_port: str) -> int:
    return int(host_port.rsplit(":", 1)[1])


@lru_cache
def get_settings() -> Settings:
    return Settings()
