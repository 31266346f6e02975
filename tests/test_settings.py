"""Settings and Temporal connection profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from durasumi.client.connect import connect_config
from durasumi.workers.settings import Settings

PROFILES = Path(__file__).resolve().parent.parent / "temporal-config" / "profiles.toml"


def test_profiles_file_selects_address_and_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    compose = connect_config(Settings(temporal_profile="compose", temporal_config_file=PROFILES))
    assert compose["target_host"] == "temporal:7233"
    cloud = connect_config(Settings(temporal_profile="cloud", temporal_config_file=PROFILES))
    assert cloud["namespace"] == "your-namespace.a1b2c" and cloud["tls"]
    override = Settings(
        temporal_profile="compose", temporal_config_file=PROFILES, temporal_address="10.0.0.1:7233"
    )
    assert connect_config(override)["target_host"] == "10.0.0.1:7233"


def test_env_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURASUMI_AGENT_QUEUE_PREFIX", "vendor-a")
    assert Settings().agent_task_queue("echo") == "vendor-a-echo"
    monkeypatch.setenv("DURASUMI_PLATFORM_TASK_QUEUE", " ")
    with pytest.raises(ValidationError):
        Settings()
