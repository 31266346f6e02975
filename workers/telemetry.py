"""What a process reports: Prometheus metrics from the Temporal runtime, OpenTelemetry traces.

Metrics: a worker process's Temporal client is connected with a ``Runtime`` whose core
serves Prometheus text on ``DURASUMI_METRICS_HOST:DURASUMI_METRICS_PORT``; the SDK's own
metrics (``temporal_request``, ``temporal_workflow_completed``, ...) and the job counters
JobWorkflow records through ``workflow.metric_meter()`` (``workflows/metrics.py``) come out
there. A runtime belongs to the clients connected with it, so the worker's client must be
connected with this one (``client.connect.connect(runtime=...)``).

Traces (off unless DURASUMI_TRACING=on or an OTLP endpoint is set; needs the ``tracing``
extra): one ``TracerProvider`` per process exporting OTLP/HTTP, and Temporal's
``TracingInterceptor`` on the client, which carries the trace context in workflow and
activity headers, so an API request, the StartWorkflow call, the workflow run and its
activities share one trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from durasumi.workers.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "Telemetry",
    "TelemetryError",
    "metrics_runtime",
    "tracer_provider",
    "tracing_interceptors",
]

TRACER_NAME = "durasumi"


class TelemetryError(RuntimeError):
    """Metrics or traces were asked for but cannot be served (port taken, extra missing)."""


def metrics_runtime(host: str, port: int, heartbeat: timedelta = timedelta(seconds=60)) -> Runtime:
    """A Temporal runtime serving Prometheus text on ``http://host:port/metrics``.

    Its workers heartbeat to the server every ``heartbeat`` (client/liveness.py).

    Raises:
        TelemetryError: The address is invalid or the port is taken.
    """
    config = TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    try:
        return Runtime(telemetry=config, worker_heartbeat_interval=heartbeat)
    except ValueError as err:  # the core's bind error: "Address already in use" and the like
        raise TelemetryError(f"cannot serve metrics on {host}:{port}: {err}") from err


def tracer_provider(settings: Settings, service: str) -> TracerProvider | None:
    """The process's tracer provider exporting OTLP/HTTP, or None when tracing is off.

    ``service`` names the process (``service.name``) unless OTEL_SERVICE_NAME does.

    Raises:
        TelemetryError: Tracing is on but the ``tracing`` extra is not installed.
    """
    if not settings.tracing_on:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as err:
        raise TelemetryError(
            f"tracing is on but {err.name} is missing: pip install 'durasumi[tracing]' "
            "(or set DURASUMI_TRACING=off)"
        ) from err
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    # Without an explicit endpoint the exporter reads OTEL_EXPORTER_OTLP_* itself.
    endpoint = settings.otlp_endpoint
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tracing_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """Temporal's tracing interceptor on ``provider`` (none without one).

    Set on the client, it also applies to every worker built on that client.
    """
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))]


@dataclass
class Telemetry:
    """A process's metrics runtime and tracer provider, both optional.

    Example:
        >>> telemetry = Telemetry.from_settings(Settings(), "durasumi-worker")
        >>> client = await connect(  # doctest: +SKIP
        ...     settings, runtime=telemetry.runtime, interceptors=telemetry.interceptors
        ... )
    """

    runtime: Runtime | None = None
    provider: TracerProvider | None = None
    interceptors: list[Interceptor] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings, service: str, *, metrics: bool = True) -> Telemetry:
        """What ``settings`` ask for; ``metrics=False`` for processes that run no worker.

        A worker process always gets a runtime of its own: its workers heartbeat every
        ``worker_heartbeat_seconds`` (the SDK's default runtime beats once a minute).

        Raises:
            TelemetryError: The metrics port cannot be bound or tracing cannot start.
        """
        runtime = None
        if metrics:  # a worker process: its workers heartbeat at the configured interval
            heartbeat = timedelta(seconds=settings.worker_heartbeat_seconds)
            if settings.metrics_port is not None:
                runtime = metrics_runtime(settings.metrics_host, settings.metrics_port, heartbeat)
            else:
                runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=heartbeat)
        provider = tracer_provider(settings, service)
        return cls(runtime, provider, tracing_interceptors(provider))

    def shutdown(self) -> None:
        """Flush and stop the span exporter (the runtime goes with its clients)."""
        if self.provider is not None:
            self.provider.shutdown()
