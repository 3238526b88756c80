"""Where the project's clients and workers connect: Temporal's environment configuration
(temporal.toml profiles, TEMPORAL_* variables), with HYBRID_TEMPORAL_* winning where given."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.settings import Settings
from core.temporal import connect_config, temporal_target

TOML = """
[profile.default]
address = "localhost:7233"

[profile.cloud]
address = "my-ns.a1b2c.tmprl.cloud:7233"
namespace = "my-ns.a1b2c"
api_key = "from-the-file"
"""


@pytest.fixture(autouse=True)
def no_temporal_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))


def test_the_local_stack_by_default() -> None:
    config = connect_config(Settings.model_construct())
    assert (config["target_host"], config["namespace"]) == ("localhost:7233", "default")
    assert not config.get("tls")


def test_the_sdks_variables_and_an_api_key_which_turns_tls_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "eu.aws.api.temporal.io:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "orders.acct")
    monkeypatch.setenv("TEMPORAL_API_KEY", "secret-key")
    config = connect_config(Settings.model_construct())
    assert config["target_host"] == "eu.aws.api.temporal.io:7233"
    assert config["namespace"] == "orders.acct"
    assert config["api_key"] == "secret-key"
    assert config["tls"] is True
    assert temporal_target(Settings.model_construct()) == (
        "eu.aws.api.temporal.io:7233 over TLS (namespace orders.acct)"
    )


def test_a_profile_of_temporal_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "temporal.toml").write_text(TOML)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "temporal.toml"))
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud")
    config = connect_config(Settings.model_construct())
    assert config["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert (config["namespace"], config["api_key"]) == ("my-ns.a1b2c", "from-the-file")


def test_the_projects_own_settings_win_where_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
    monkeypatch.setenv("HYBRID_TEMPORAL_ADDRESS", "localhost:17233")
    config = connect_config(Settings())
    assert config["target_host"] == "localhost:17233"


def test_a_broken_configuration_file_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "temporal.toml").write_text("[profile.default\naddress = ")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "temporal.toml"))
    with pytest.raises(InvalidInput, match="client configuration cannot be read"):
        connect_config(Settings.model_construct())
