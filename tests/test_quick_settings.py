"""The CLI's quick-read settings agree with the full settings wherever they answer at all.

Whatever environment hypothesis makes up (names in any case, empty values, ports that do not
parse, a .env file), ``quick_read_settings`` either answers None (the CLI then builds the
full settings) or answers exactly what pydantic-settings reads, field by field.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from durasumi.client.quick_settings import QuickReadSettings, quick_read_settings
from durasumi.client.temporal_http import http_api_for
from durasumi.workers.settings import Settings

KEY = base64.b64encode(bytes(range(32))).decode()
FIELDS = [
    "home",
    "temporal_profile",
    "temporal_config_file",
    "temporal_address",
    "temporal_namespace",
    "temporal_http_url",
    "dev_temporal_port",
    "dev_temporal_http_port",
    "codec_active_key",
    "codec_agent_keys",
    "codec_keys_file",
]
VALUES = {
    "home": st.sampled_from(["", "h", "/tmp/durasumi-home"]),
    "temporal_profile": st.sampled_from(["", "prod"]),
    "temporal_address": st.sampled_from(["", "127.0.0.1:7233", "localhost:7233", "t:7233"]),
    "temporal_namespace": st.sampled_from(["", "default", "ns"]),
    "temporal_http_url": st.sampled_from(["", "http://127.0.0.1:7243/"]),
    "dev_temporal_port": st.sampled_from(["", "7233", "9", " 7", "x", "-1", "٣"]),
    "dev_temporal_http_port": st.sampled_from(["7243", "8", "1e3"]),
    "codec_keys": st.sampled_from(["", f"k:{KEY}"]),
    "codec_active_key": st.sampled_from(["", "k"]),
}
SPELLINGS = st.sampled_from(sorted(VALUES)).flatmap(
    lambda f: st.tuples(
        st.sampled_from([f"DURASUMI_{f.upper()}", f"durasumi_{f}", f"Durasumi_{f.upper()}"]),
        VALUES[f],
    )
)
ENVIRONMENTS = st.lists(SPELLINGS, max_size=6).map(dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=ENVIRONMENTS, dotenv=st.booleans(), address=st.sampled_from([None, "a:1"]))
def test_quick_settings_read_what_the_full_settings_read(
    env: dict[str, str],
    dotenv: bool,
    address: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    variables = env  # one name may come in several spellings
    folder = tmp_path_factory.mktemp("cwd")
    if dotenv:
        (folder / ".env").write_text("DURASUMI_TEMPORAL_NAMESPACE=from-dotenv\n")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.lower().startswith("durasumi_")]:
            mp.delenv(name)
        for name, value in variables.items():
            mp.setenv(name, value)
        mp.chdir(folder)
        quick = quick_read_settings(address=address)
        try:
            full = Settings(temporal_address=address) if address else Settings()
        except ValidationError:
            full = None
    if dotenv or len({n.lower() for n in variables}) < len(variables):
        assert quick is None
        return
    if quick is None:
        return  # the full settings decide (and name any problem)
    assert full is not None, f"quick settings answered where the full ones refuse: {variables}"
    for name in FIELDS:
        assert getattr(quick, name) == getattr(full, name), (name, variables)
    secret = full.codec_keys.get_secret_value() if full.codec_keys else None
    assert quick.codec_keys == secret
    assert http_api_for(quick) == http_api_for(full)


def test_quick_settings_defaults_match_the_full_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.lower().startswith("durasumi_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    quick = quick_read_settings()
    assert quick == QuickReadSettings()
    full = Settings()
    assert all(getattr(quick, f) == getattr(full, f) for f in FIELDS)


def test_a_dev_stack_environment_reads_quickly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.lower().startswith("durasumi_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DURASUMI_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    monkeypatch.setenv("durasumi_codec_keys", f"k:{KEY}")
    monkeypatch.setenv("DURASUMI_DEV_TEMPORAL_HTTP_PORT", "9999")
    quick = quick_read_settings(namespace="ns")
    assert quick is not None
    api = http_api_for(quick)
    assert api is not None and (api.base_url, api.namespace) == ("http://127.0.0.1:9999", "ns")
    assert api == http_api_for(Settings(temporal_namespace="ns"))
    ring = quick.codec_keyring()
    assert ring is not None and ring.active == "k"
