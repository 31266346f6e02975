"""Connecting to Temporal: envconfig profile, then explicit overrides, pydantic payloads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from durasumi.workers.claim_check import payload_storage
from durasumi.workers.codec import data_converter
from durasumi.workers.settings import Settings

__all__ = ["connect", "connect_config"]


def connect_config(settings: Settings) -> dict[str, Any]:
    """Client.connect keyword arguments from the envconfig profile and settings.

    The profile (file + TEMPORAL_* environment variables) comes first; DURASUMI_TEMPORAL_*
    settings override it, so one variable points every process at another cluster.
    """
    config_file = settings.temporal_config_file
    config: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(
            profile=settings.temporal_profile,
            config_file=str(config_file) if config_file else None,
        )
    )
    if settings.temporal_address:
        config["target_host"] = settings.temporal_address
    config.setdefault("target_host", f"127.0.0.1:{settings.dev_temporal_port}")
    if settings.temporal_namespace:
        config["namespace"] = settings.temporal_namespace
    return config


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect a client that carries pydantic models as payloads, encrypted with keys set.

    Payloads over ``payload_store_threshold`` go to the payload store (the claim check,
    workers/claim_check.py): every process connecting here reads and writes the same one.

    Args:
        settings: Where Temporal is.
        runtime: The Temporal runtime (a worker's serves its Prometheus metrics, see
            workers/telemetry.py); default: the SDK's default runtime.
        interceptors: Client interceptors (tracing); workers built on the client get them too.
    """
    return await Client.connect(
        data_converter=data_converter(settings.codec_keyring(), payload_storage(settings)),
        runtime=runtime,
        interceptors=interceptors,
        **connect_config(settings),
    )
