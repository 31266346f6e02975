"""durasumi's settings: one BaseSettings, read once at the edge and passed down.

Every value comes from ``DURASUMI_*`` environment variables (or a ``.env`` file) and has a
default that works for ``durasumi dev`` on one machine.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where Temporal and the app database are, and what the platform calls things.

    Example:
        >>> Settings(temporal_address="127.0.0.1:7233").platform_task_queue
        'durasumi-platform'
    """

    model_config = SettingsConfigDict(env_prefix="DURASUMI_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".durasumi"), description="Folder for the dev stack's files.")
    temporal_profile: str | None = Field(
        None, description="envconfig profile name (temporal-config/profiles.toml)."
    )
    temporal_config_file: Path | None = Field(
        None, description="envconfig TOML file; TEMPORAL_CONFIG_FILE works too."
    )
    temporal_address: str | None = Field(None, description="host:port; overrides the profile.")
    temporal_namespace: str | None = Field(None, description="Overrides the profile.")
    platform_task_queue: str = "durasumi-platform"
    agent_queue_prefix: str = Field(
        "durasumi-agent", description="Agent task queues are PREFIX-<agent name>."
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in home.")
    dev_temporal_port: int = 7233
    dev_ui_port: int = 8233
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    signing_secret: SecretStr | None = Field(
        None, description="Hex master secret for agent Ed25519 keys; dev: a file in home."
    )

    @field_validator("platform_task_queue", "agent_queue_prefix")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def db_url(self) -> str:
        """The app database URL, defaulting to an SQLite file in ``home``."""
        return self.database_url or f"sqlite:///{self.home / 'durasumi.db'}"

    def signing_secret_bytes(self) -> bytes:
        """The master signing secret: the setting, else the dev file in ``home``."""
        from activities.signing import load_or_create_secret

        if self.signing_secret is not None:
            return bytes.fromhex(self.signing_secret.get_secret_value())
        return load_or_create_secret(self.home / "signing.key")

    def agent_task_queue(self, agent: str) -> str:
        """The default task queue of an agent: each vendor agent polls its own."""
        return f"{self.agent_queue_prefix}-{agent}"
