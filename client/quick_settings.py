"""The few settings a quick read needs, read without pydantic-settings.

``durasumi status`` and ``durasumi list`` read through Temporal's HTTP API in a fraction of
the CLI's budget, but building :class:`~durasumi.workers.settings.Settings` alone imports
pydantic-settings and validates sixty fields (about 150 ms, docs/benchmarks.md). A read
needs only where Temporal is and the payload keys, so this module reads those
``DURASUMI_*`` variables the way the full settings do (case-insensitive names, the
environment only). Anything it does not handle exactly as they do — a ``.env`` file, a
value that does not parse — makes :func:`quick_read_settings` answer None, and the caller
builds the full settings, which then also name the problem (tests/test_cli_quick.py
checks both paths agree).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durasumi.workers.keyring import Keyring

__all__ = ["QuickReadSettings", "quick_read_settings"]

_PREFIX = "durasumi_"


@dataclass(frozen=True)
class QuickReadSettings:
    """Where Temporal and its HTTP API are, and the payload keyring's sources."""

    home: Path = Path(".durasumi")
    temporal_profile: str | None = None
    temporal_config_file: Path | None = None
    temporal_address: str | None = None
    temporal_namespace: str | None = None
    temporal_http_url: str | None = None
    dev_temporal_port: int = 7233
    dev_temporal_http_port: int = 7243
    codec_keys: str | None = None
    codec_active_key: str | None = None
    codec_agent_keys: str | None = None
    codec_keys_file: Path | None = None

    def codec_keyring(self) -> Keyring | None:
        """The payload keyring, built as ``Settings.codec_keyring`` builds it."""
        from durasumi.workers.keyring import load_keyring

        default_file = self.home / "codec-keys.json"
        file = self.codec_keys_file or (default_file if default_file.exists() else None)
        return load_keyring(
            keys=self.codec_keys,
            active=self.codec_active_key,
            agents=self.codec_agent_keys,
            file=file,
        )


def quick_read_settings(
    address: str | None = None,
    namespace: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> QuickReadSettings | None:
    """The quick-read settings from the environment, or None where only the full ones can tell.

    ``address`` and ``namespace`` (the CLI's ``--address`` / ``--namespace``) win over the
    environment, as they do over the full settings.

    Example:
        >>> s = quick_read_settings(environ={"DURASUMI_TEMPORAL_ADDRESS": "h:1"}, cwd=Path("/"))
        >>> s.temporal_address if s else None
        'h:1'
    """
    if (Path.cwd() if cwd is None else cwd).joinpath(".env").exists():
        return None  # dotenv parsing has rules of its own: leave it to pydantic-settings
    env = os.environ if environ is None else environ
    # pydantic-settings matches names case-insensitively; where two spellings of one name
    # are set its choice is not ours to guess.
    values: dict[str, str] = {}
    for name, value in env.items():
        key = name.lower()
        if key.startswith(_PREFIX):
            if key in values:
                return None
            values[key] = value

    if any(value == "" for value in values.values()):
        return None  # an empty value is a value to pydantic-settings, and fails most fields

    def text(field: str) -> str | None:
        return values.get(_PREFIX + field)

    def path(field: str) -> Path | None:
        value = text(field)
        return Path(value) if value is not None else None

    def port(field: str, default: int) -> int | None:
        value = values.get(_PREFIX + field)
        if value is None:
            return default
        return int(value) if value.isascii() and value.isdigit() else None

    dev_port = port("dev_temporal_port", 7233)
    dev_http_port = port("dev_temporal_http_port", 7243)
    if dev_port is None or dev_http_port is None:
        return None
    quick = QuickReadSettings(
        home=path("home") or Path(".durasumi"),
        temporal_profile=text("temporal_profile"),
        temporal_config_file=path("temporal_config_file"),
        temporal_address=address or text("temporal_address"),
        temporal_namespace=namespace or text("temporal_namespace"),
        temporal_http_url=text("temporal_http_url"),
        dev_temporal_port=dev_port,
        dev_temporal_http_port=dev_http_port,
        codec_keys=text("codec_keys"),
        codec_active_key=text("codec_active_key"),
        codec_agent_keys=text("codec_agent_keys"),
        codec_keys_file=path("codec_keys_file"),
    )
    from durasumi.workers.keyring import KeyringError

    try:
        quick.codec_keyring()  # the full settings refuse a keyring that does not build
    except KeyringError:
        return None
    return quick
