from pathlib import Path

import pytest

from core.settings import Settings


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings(_env_file=None)
    assert settings.temporal_port == 7233
    assert settings.postgres_port == 55432
    assert settings.kafka_port == 19092
    assert settings.flink_rest_port == 8081
    assert settings.ray_dashboard_port == 8265


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092,kafka2:9092")
    monkeypatch.setenv("HYBRID_POSTGRES_DSN", "postgresql://u:p@db:5433/x")
    monkeypatch.setenv("HYBRID_LAKE_DIR", "/data/lake")
    monkeypatch.setenv("JAVA_HOME", "/opt/java")
    settings = Settings()
    assert settings.kafka_port == 9092
    assert settings.postgres_port == 5433
    assert settings.lake_dir == Path("/data/lake")
    assert settings.java_home == Path("/opt/java")


def test_invalid_values_are_rejected_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_TRANSACTIONS_PARTITIONS", "many")
    with pytest.raises(ValueError, match="transactions_partitions"):
        Settings()
