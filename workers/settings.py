"""durasumi's settings: one BaseSettings, read once at the edge and passed down.

Every value comes from ``DURASUMI_*`` environment variables (or a ``.env`` file) and has a
default that works for ``durasumi dev`` on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # imported where used: reading settings must not load the Temporal SDK
    from durasumi.activities.gpu import RaySettings
    from durasumi.activities.llm import LlmSettings
    from durasumi.workers.keyring import Keyring
    from durasumi.workflows.terms import EscrowWindows

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
    temporal_http_url: str | None = Field(
        None,
        description="Temporal's HTTP API (http://host:port): the CLI's status, result and list "
        "read through it without loading the Temporal SDK; default: the dev stack's when "
        "the address is the dev server's, else the gRPC client.",
    )
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
    dev_temporal_http_port: int = Field(
        7243, description="`durasumi dev`: the dev server's HTTP API port (the CLI's quick reads)."
    )
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
    worker_heartbeat_seconds: float = Field(
        5.0,
        ge=1,
        le=600,
        description="Workers tell Temporal they are alive this often; one silent for 3 "
        "intervals counts as down (API 503s, /availability).",
    )
    api_worker_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds the API waits for the platform worker to answer a read or take "
        "an answer before answering 503 (read) or 504 (answer, which may still apply).",
    )
    remote_poll_max_seconds: float = Field(
        10.0, gt=0, le=3600, description="Remote agents: longest wait between /status reads."
    )
    remote_unreachable_seconds: float = Field(
        600.0, gt=0, description="Remote agents: unreachable this long fails the job (refund)."
    )
    remote_job_timeout_minutes: int = Field(
        24 * 60, ge=1, description="Remote agents: deadline of a job without an escrow deadline."
    )

    @field_validator("platform_task_queue", "agent_queue_prefix")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("result_hash_rules")
    @classmethod
    def _result_hash_rules(cls, value: str) -> str:
        from durasumi.workflows.ids import parse_result_hash_rules

        parse_result_hash_rules(value)
        return value

    @field_validator("worker_deployment")
    @classmethod
    def _deployment_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from durasumi.workers.deployments import check_deployment_name

        return check_deployment_name(value)

    @field_validator("worker_build_id")
    @classmethod
    def _build_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from durasumi.workers.deployments import check_build_id

        return check_build_id(value)

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
    escrow_windows: str | None = Field(
        None,
        description="Paid jobs' escrow windows in minutes: pay,submit,unlock,dispute (payByTime "
        "and submitResultTime from the start, the others from submitResultTime); default "
        "10,60,360,720. Masumi's shortest, 10,15,15,30, settles a dev job in about 30 minutes.",
    )
    escrow_reconcile_minutes: int = Field(
        10,
        ge=1,
        le=1440,
        description="How often the platform looks for paid jobs that Temporal closed before "
        "they settled (terminated, timed out) and refunds them.",
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
    masumi_payment_source_type: Literal["Web3CardanoV1", "Web3CardanoV2"] = Field(
        "Web3CardanoV1",
        description="The payment service's contract family for this platform's agents "
        "(Web3CardanoV2 needs masumi_payment_source_index).",
    )
    masumi_payment_source_index: str | None = Field(
        None,
        description="Web3CardanoV2: which of the agent's advertised payment sources "
        "(supported_payment_sources, 0-24) its jobs use: N, or agent:N,... ('*': the rest).",
    )
    masumi_webhook_url: str | None = Field(
        None,
        description="The public URL of this platform's /escrow/masumi/webhook: the masumi "
        "backend registers it with the payment service, whose status changes then reach "
        "jobs at once (polling stays the fallback).",
    )
    masumi_webhook_token: SecretStr | None = Field(
        None,
        min_length=10,
        max_length=200,
        description="The webhook's bearer token (10-200 characters), shared with the payment "
        "service at registration; the API accepts deliveries only with it.",
    )
    result_hash_rules: str = Field(
        "escaped",
        description="MIP-004 result hash: escaped (the output JSON-escaped, as the masumi "
        "package and the payment service hash it), raw (MIP-004 main) or chained (the open "
        "MIP-004 revision: every input hash first); one rule, or agent:rule,... ('*': the rest).",
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

    payload_store: Literal["folder", "s3", "off"] = Field(
        "folder",
        description="Where payloads over the threshold and files go: a folder (dev), an "
        "S3-compatible bucket (production), or off (big payloads fail).",
    )
    payload_store_threshold: int = Field(
        256 * 1024,
        ge=1024,
        le=1_500_000,
        description="Payloads this many bytes or more go to the payload store (claim check).",
    )
    payload_store_folder: Path | None = Field(
        None, description="The folder store's folder; default HOME/objects."
    )
    s3_bucket: str | None = Field(None, description="The S3 store's bucket (it must exist).")
    s3_prefix: str = Field("", description="Prefix of every object key in the bucket.")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph, R2); default: AWS."
    )
    s3_region: str | None = Field(None, description="The bucket's region.")
    s3_access_key_id: str | None = Field(
        None, description="S3 access key id; default: boto3's credential chain."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    max_file_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, description="Larger file uploads get 413."
    )
    file_link_seconds: int = Field(
        900, ge=10, le=7 * 24 * 3600, description="How long a signed file download URL works."
    )

    @model_validator(mode="after")
    def _payload_store_usable(self) -> Settings:
        if self.payload_store == "s3" and not self.s3_bucket:
            raise ValueError("payload_store is s3 but no s3_bucket is set")
        return self

    def escrow_window_minutes(self) -> EscrowWindows:
        """The escrow windows of paid jobs (``escrow_windows``, else Masumi's defaults).

        Example:
            >>> Settings(escrow_windows="10,15,15,30").escrow_window_minutes().unlock_minutes
            15
        """
        from durasumi.workflows.terms import EscrowWindows

        if not self.escrow_windows:
            return EscrowWindows()
        parts = [p.strip() for p in self.escrow_windows.split(",")]
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ValueError("escrow_windows must be four whole minutes: pay,submit,unlock,dispute")
        pay, submit, unlock, dispute = (int(p) for p in parts)
        try:
            return EscrowWindows(
                pay_by_minutes=pay,
                submit_result_minutes=submit,
                unlock_minutes=unlock,
                dispute_minutes=dispute,
            )
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise ValueError(
                f"escrow_windows breaks Masumi's rules: {where + ': ' if where else ''}"
                f"{first['msg']}"
            ) from None

    @model_validator(mode="after")
    def _escrow_windows_usable(self) -> Settings:
        if self.escrow_windows:  # (unset: Masumi's defaults, nothing to import or check)
            self.escrow_window_minutes()  # Masumi's rules, named in the error
        return self

    @model_validator(mode="after")
    def _codec_keys_usable(self) -> Settings:
        self.codec_keyring()  # a bad key, id or file is a settings error, named
        return self

    def codec_keyring(self) -> Keyring | None:
        """The payload keyring (settings, plus the keys file), or None: payloads stay plain."""
        from durasumi.workers.keyring import load_keyring

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
        from durasumi.activities.llm import LlmSettings

        return LlmSettings(
            base_url=self.llm_base_url,
            api_key=self.llm_api_key,
            model=self.llm_model,
            idle_timeout=self.llm_idle_timeout,
        )

    def ray_settings(self) -> RaySettings:
        """What the Ray activities need."""
        from durasumi.activities.gpu import RaySettings

        return RaySettings(
            address=self.ray_address,
            dashboard_url=self.ray_dashboard_url,
            local_num_gpus=self.ray_num_gpus,
        )
