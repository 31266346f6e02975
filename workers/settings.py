"""durasumi's settings: one BaseSettings, read once at the edge and passed down.

Every value comes from ``DURASUMI_*`` environment variables (or a ``.env`` file) and has a
default that works for ``durasumi dev`` on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from durasumi.activities.gpu import RaySettings
from durasumi.activities.llm import LlmSettings
from durasumi.workers.deployments import check_build_id, check_deployment_name

if TYPE_CHECKING:
    from durasumi.workers.codec import Keyring

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where Temporal and the app database are, and what the platform calls things.

    Example:
        >>> Settings(temporal_address="127.0.0.1:7233").platform_task_queue
        'durasumi-platform'
    """

    model_config = SettingsConfigDict(
        env_prefix="DURASUMI_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # errors would otherwise echo secrets (codec keys)
    )

    home: Path = Field(Path(".durasumi"), description="Folder for the dev stack's files.")
    temporal_profile: str | None = Field(
        None, description="envconfig profile name (temporal-config/profiles.toml)."
    )
    temporal_config_file: Path | None = Field(
        None, description="envconfig TOML file; TEMPORAL_CONFIG_FILE works too."
    )
    temporal_address: str | None = Field(None, description="host:port; overrides the profile.")
    temporal_namespace: str | None = Field(None, description="Overrides the profile.")
    platform_task_queue: str = Field(
        "durasumi-platform", description="Task queue of the platform worker (JobWorkflow, escrow)."
    )
    agent_queue_prefix: str = Field(
        "durasumi-agent", description="Agent task queues are PREFIX-<agent name>."
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in home.")
    dev_temporal_port: int = Field(
        7233, description="`durasumi dev`: the dev server's gRPC port (and the default address)."
    )
    dev_ui_port: int = Field(8233, description="`durasumi dev`: the Temporal Web UI's port.")
    api_host: str = Field("127.0.0.1", description="Interface the HTTP API listens on.")
    api_port: int = Field(8000, description="Port of the HTTP API.")
    api_url: str | None = Field(
        None,
        description="The platform's API, for a vendor worker's agent registration; "
        "default http://API_HOST:API_PORT.",
    )
    api_key: SecretStr | None = Field(
        None, description="A vendor key: `durasumi worker --agent` registers agents with it."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    signing_secret: SecretStr | None = Field(
        None, description="Hex master secret for agent Ed25519 keys; dev: a file in home."
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; unset: agents' llm() calls fail clearly."
    )
    llm_api_key: SecretStr | None = Field(None, description="API key of the LLM endpoint.")
    llm_model: str | None = Field(None, description="Default model of llm() calls.")
    llm_idle_timeout: float = Field(120.0, gt=0, description="Seconds of provider silence.")
    ray_address: str | None = Field(
        None,
        validation_alias=AliasChoices("DURASUMI_RAY_ADDRESS", "RAY_ADDRESS"),
        description="Ray cluster (RAY_ADDRESS works too); unset: a local Ray on first use.",
    )
    ray_dashboard_url: str | None = Field(None, description="Ray Jobs API; default: learnt.")
    ray_num_gpus: int | None = Field(
        None, ge=0, description="Logical GPUs of the local Ray; default: detected."
    )
    worker_deployment: str | None = Field(
        None, description="Worker Deployment name; with worker_build_id, workers are versioned."
    )
    worker_build_id: str | None = Field(None, description="This worker build's version id.")
    worker_drain_seconds: float = Field(
        30.0, gt=0, le=86_400, description="On SIGTERM: seconds in-flight activities get."
    )

    @field_validator("platform_task_queue", "agent_queue_prefix")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("worker_deployment")
    @classmethod
    def _deployment_name(cls, value: str | None) -> str | None:
        return None if value is None else check_deployment_name(value)

    @field_validator("worker_build_id")
    @classmethod
    def _build_id(cls, value: str | None) -> str | None:
        return None if value is None else check_build_id(value)

    @property
    def db_url(self) -> str:
        """The app database URL, defaulting to an SQLite file in ``home``."""
        return self.database_url or f"sqlite:///{self.home / 'durasumi.db'}"

    def signing_secret_bytes(self) -> bytes:
        """The master signing secret: the setting, else the dev file in ``home``."""
        from durasumi.db.signing import load_or_create_secret

        if self.signing_secret is not None:
            return bytes.fromhex(self.signing_secret.get_secret_value())
        return load_or_create_secret(self.home / "signing.key")

    @property
    def api_base_url(self) -> str:
        """Where the platform's API answers: ``api_url``, else this machine's API."""
        if self.api_url:
            return self.api_url.rstrip("/")
        host = "127.0.0.1" if self.api_host in ("", "0.0.0.0", "::") else self.api_host
        return f"http://{host}:{self.api_port}"

    def agent_task_queue(self, agent: str) -> str:
        """The default task queue of an agent: each vendor agent polls its own."""
        return f"{self.agent_queue_prefix}-{agent}"

    escrow_backend: Literal["off", "offline", "blockfrost", "masumi"] = Field(
        "off",
        description="Cardano escrow for paid jobs: offline = the dev ledger in HOME/escrow with "
        "funded dev wallets (durasumi dev turns it on); blockfrost = the chain through "
        "Blockfrost with the seller's key; masumi = a Masumi payment service (docs/escrow.md).",
    )
    escrow_default_price: int = Field(
        10_000_000, gt=0, description="Lovelace for `start --pay` when the agent has no price."
    )
    cardano_network: Literal["preprod", "mainnet"] = Field(
        "preprod", description="The chain of the blockfrost and masumi escrow backends."
    )
    blockfrost_project_id: SecretStr | None = Field(
        None, description="Blockfrost project id (escrow_backend=blockfrost)."
    )
    blockfrost_url: str | None = Field(
        None, description="Blockfrost API base URL; default: blockfrost.io's for the network."
    )
    escrow_seller_skey_file: Path | None = Field(
        None, description="The seller wallet's payment .skey (escrow_backend=blockfrost)."
    )
    escrow_buyer_skey_file: Path | None = Field(
        None, description="A buyer wallet the platform holds (optional; jobs with platform_buyer)."
    )
    escrow_deployment_file: Path | None = Field(
        None, description="JSON: the escrow script's reference UTxO and parameters (blockfrost)."
    )
    escrow_min_confirmations: int = Field(
        1,
        ge=1,
        le=100,
        description="Blocks before an escrow transaction counts (blockfrost, offline); an "
        "escrow step's activity waits for them.",
    )
    escrow_offline_block_seconds: float = Field(
        0.0,
        ge=0,
        le=600,
        description="The offline ledger makes a block this often (wall clock); 0: every "
        "transaction is final on acceptance.",
    )
    masumi_url: str | None = Field(
        None, description="Masumi payment service base URL, e.g. https://host/api/v1."
    )
    masumi_token: SecretStr | None = Field(None, description="The payment service API key.")
    masumi_agent_identifier: str | None = Field(
        None,
        description="Masumi agent identifiers (policy id + asset name, hex): one for every "
        "agent, or agent:identifier,... pairs ('*' for the rest).",
    )
    masumi_dynamic_pricing: bool = Field(
        False, description="Send the job's price (agents registered with dynamic pricing)."
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Workers' Prometheus endpoint (Temporal SDK + job counters); unset: off.",
    )
    metrics_host: str = Field("127.0.0.1", description="Interface of the workers' endpoint.")
    api_metrics: bool = Field(True, description="Serve GET /metrics on the API (on|off).")
    tracing: bool | None = Field(
        None, description="OpenTelemetry traces (on|off); unset: on when an OTLP endpoint is set."
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("DURASUMI_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector base URL (OTEL_EXPORTER_OTLP_ENDPOINT works too).",
    )

    @property
    def tracing_on(self) -> bool:
        """Whether traces are exported: DURASUMI_TRACING, else whether an endpoint is set."""
        return self.tracing if self.tracing is not None else self.otlp_endpoint is not None

    codec_keys: SecretStr | None = Field(
        None,
        description="Payload encryption keys, id:base64key,... (32-byte keys); with keys "
        "configured, payloads are AES-GCM ciphertext in Temporal.",
    )
    codec_active_key: str | None = Field(
        None, description="The key id that encrypts (default: the only key, or the file's)."
    )
    codec_agent_keys: str | None = Field(
        None, description="agent:keyid,...: an agent's payloads use its vendor's key ('*': all)."
    )
    codec_keys_file: Path | None = Field(
        None, description="JSON keyring; default HOME/codec-keys.json if it exists (dev writes it)."
    )
    codec_ui_origins: str | None = Field(
        None, description="Web UI origins allowed to call /codec, comma-separated; default: dev UI."
    )

    @model_validator(mode="after")
    def _codec_keys_usable(self) -> Settings:
        self.codec_keyring()  # a bad key, id or file is a settings error, named
        return self

    def codec_keyring(self) -> Keyring | None:
        """The payload keyring (settings, plus the keys file), or None: payloads stay plain."""
        from durasumi.workers.codec import load_keyring

        default_file = self.home / "codec-keys.json"
        file = self.codec_keys_file or (default_file if default_file.exists() else None)
        keys = self.codec_keys.get_secret_value() if self.codec_keys else None
        return load_keyring(
            keys=keys, active=self.codec_active_key, agents=self.codec_agent_keys, file=file
        )

    def codec_origins(self) -> list[str]:
        """Origins whose pages may call the codec endpoint (CORS)."""
        if self.codec_ui_origins:
            return [o.strip().rstrip("/") for o in self.codec_ui_origins.split(",") if o.strip()]
        return [f"http://{host}:{self.dev_ui_port}" for host in ("127.0.0.1", "localhost")]

    def llm_settings(self) -> LlmSettings:
        """What the LLM activity needs."""
        return LlmSettings(
            base_url=self.llm_base_url,
            api_key=self.llm_api_key,
            model=self.llm_model,
            idle_timeout=self.llm_idle_timeout,
        )

    def ray_settings(self) -> RaySettings:
        """What the Ray activities need."""
        return RaySettings(
            address=self.ray_address,
            dashboard_url=self.ray_dashboard_url,
            local_num_gpus=self.ray_num_gpus,
        )
