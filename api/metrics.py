"""Request metrics and spans of the facade: one pure ASGI middleware, GET /metrics.

Requests are counted by method, route template (``/agents/{agent}/status``, never the raw
path, so job ids and agent names do not multiply the series) and status code; latency is
the time until the response headers were sent, which for the SSE stream is the time to
open it, not its lifetime. A request no route matched is labelled ``unmatched``.

With a tracer the middleware also opens a SERVER span per request (continuing a W3C
``traceparent`` sent by a proxy); the Temporal client's TracingInterceptor makes the
StartWorkflow / SignalWorkflow / Query spans its children, so a job started through the
API is one trace from the HTTP request to the agent's activities.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ["ApiMetrics", "RequestTelemetry", "router"]

UNMATCHED = "unmatched"
# Seconds: most facade calls are one Temporal round trip (a few ms); updates wait on a worker.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiMetrics:
    """The facade's Prometheus registry: request counts and latency by route and status.

    One registry per app (not prometheus_client's global one), so several apps in one
    process (tests, ``durasumi dev``) keep their own counts.

    Example:
        >>> metrics = ApiMetrics()
        >>> metrics.observe("GET", "/agents/{agent}/status", 200, 0.004)
        >>> b'route="/agents/{agent}/status"' in metrics.render()
        True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "durasumi_api_requests",
            "HTTP requests answered, by method, route template and status code.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "durasumi_api_request_duration_seconds",
            "Seconds until the response headers were sent, by method, route and status.",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        code = str(status)
        self.requests.labels(method, route, code).inc()
        self.latency.labels(method, route, code).observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    """The path template of the route that handled the request (set by the router)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED


class RequestTelemetry:
    """ASGI middleware: count and time each HTTP request, and trace it given a tracer."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics | None, tracer: Tracer | None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting the status and when the headers went out."""
        if scope["type"] != "http" or (self.metrics is None and self.tracer is None):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        answered: list[Any] = [500, None]  # status, seconds to headers

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
                answered[1] = time.perf_counter() - start
            await send(message)

        try:
            if self.tracer is None:
                await self.app(scope, receive, noting)
            else:
                await self._traced(scope, receive, noting, answered)
        finally:
            if self.metrics is not None:
                seconds = answered[1] if answered[1] is not None else time.perf_counter() - start
                self.metrics.observe(scope["method"], route_template(scope), answered[0], seconds)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, answered: list[Any]
    ) -> None:
        from opentelemetry import propagate, trace

        assert self.tracer is not None
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method,
            context=propagate.extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", answered[0])
                if answered[0] >= 500:
                    span.set_status(trace.StatusCode.ERROR)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def scrape(request: Request) -> Response:
    """Prometheus text: the facade's request counters (no auth; see docs/operations.md)."""
    registry: ApiMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
