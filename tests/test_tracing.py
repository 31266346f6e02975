"""OpenTelemetry: a job started through the API is one trace, API request to activities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from durasumi.client.connect import connect
from durasumi.workers.devserver import DevServer
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import (
    Telemetry,
    TelemetryError,
    tracer_provider,
    tracing_interceptors,
)
from tests.api_fixtures import Api, serve_api
from tests.conftest import running_stack, wait_until


@pytest.fixture
async def traced(
    temporal: DevServer, tmp_path: Path
) -> AsyncIterator[tuple[Api, InMemorySpanExporter]]:
    """Workers and API on one client with the tracing interceptor; spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(provider=provider, interceptors=tracing_interceptors(provider))
    client = await connect(
        Settings(temporal_address=temporal.address), interceptors=telemetry.interceptors
    )
    async with running_stack(client, temporal.address, tmp_path) as stack:
        async for api in serve_api(stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path, telemetry):
            yield api, exporter
    provider.shutdown()


def ancestry(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """Names from ``span`` up to the root of its trace."""
    names = [span.name]
    while span.parent is not None:
        parent = by_id.get(span.parent.span_id)
        assert parent is not None, f"{span.name}: parent span {span.parent.span_id:x} not exported"
        names.append(parent.name)
        span = parent
    return names


async def test_job_through_the_api_is_one_trace(
    traced: tuple[Api, InMemorySpanExporter], tmp_path: Path
) -> None:
    api, exporter = traced
    trace_file = tmp_path / "steps.txt"
    async with api.client("alice") as http:
        resp = await http.post(
            "/agents/counter/start_job",
            json={
                "identifier_from_purchaser": uuid.uuid4().hex[:16],
                "input_data": {
                    "trace": str(trace_file),
                    "before": 1,
                    "after": 1,
                    "step_seconds": 0,
                },
            },
        )
        assert resp.status_code == 200, resp.text
        job_id = resp.json()["job_id"]
        for _ in range(300):
            body = (await http.get("/agents/counter/status", params={"job_id": job_id})).json()
            if body["status"] == "awaiting_input":
                break
            await asyncio.sleep(0.1)
        resp = await http.post(f"/jobs/{job_id}/input", json={"values": {"text": "yes"}})
        assert resp.status_code == 200, resp.text
        for _ in range(300):
            body = (await http.get("/agents/counter/status", params={"job_id": job_id})).json()
            if body["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        assert body["status"] == "completed", body
        # A proxy's W3C trace context is continued, not replaced.
        upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        resp = await http.get(
            "/agents/counter/status", params={"job_id": job_id}, headers={"traceparent": upstream}
        )
        assert resp.status_code == 200

    def finished() -> bool:
        names = [s.name for s in exporter.get_finished_spans()]
        return (
            names.count("RunActivity:counted_step") == 2 and "CompleteWorkflow:JobWorkflow" in names
        )

    await wait_until(finished, timeout=10)
    spans = exporter.get_finished_spans()
    start = next(s for s in spans if s.name == "POST /agents/{agent}/start_job")
    assert start.kind is SpanKind.SERVER and start.parent is None
    assert start.attributes is not None
    assert start.attributes["http.route"] == "/agents/{agent}/start_job"
    assert start.attributes["http.response.status_code"] == 200
    trace_id = start.context.trace_id
    in_trace = {s.context.span_id: s for s in spans if s.context.trace_id == trace_id}
    names = {s.name for s in in_trace.values()}
    assert {
        "StartWorkflow:JobWorkflow",
        "RunWorkflow:JobWorkflow",
        "StartChildWorkflow:counter",
        "RunWorkflow:counter",
        "StartActivity:counted_step",
        "RunActivity:counted_step",
    } <= names, names
    # Temporal's interceptor parents a workflow's own spans (RunWorkflow, and what the
    # workflow starts) on the span that started it: a tree, not one chain.
    parent = {s.name: in_trace[s.parent.span_id].name for s in in_trace.values() if s.parent}
    assert parent["StartWorkflow:JobWorkflow"] == "POST /agents/{agent}/start_job"
    assert parent["RunWorkflow:JobWorkflow"] == "StartWorkflow:JobWorkflow"
    assert parent["StartChildWorkflow:counter"] == "StartWorkflow:JobWorkflow"
    assert parent["RunWorkflow:counter"] == "StartChildWorkflow:counter"
    activity = next(s for s in in_trace.values() if s.name == "RunActivity:counted_step")
    assert ancestry(activity, in_trace) == [
        "RunActivity:counted_step",
        "StartActivity:counted_step",
        "StartChildWorkflow:counter",
        "StartWorkflow:JobWorkflow",
        "POST /agents/{agent}/start_job",
    ]
    # The answer through the API is its own request span, parent of the Update it sends.
    answer = next(s for s in spans if s.name == "POST /jobs/{job_id}/input")
    updates = [
        s for s in spans if s.name.startswith("StartWorkflowUpdate") and s.parent is not None
    ]
    assert any(u.parent.span_id == answer.context.span_id for u in updates if u.parent)
    proxied = [s for s in spans if s.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C]
    get = next(s for s in proxied if s.name == "GET /agents/{agent}/status")
    assert get.parent is not None and get.parent.span_id == 0xB7AD6B7169203331
    query = next(s for s in proxied if s.name == "QueryWorkflow:view")
    assert query.parent is not None and query.parent.span_id == get.context.span_id


def test_tracing_off_by_default_and_clear_without_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DURASUMI_TRACING", "DURASUMI_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracer_provider(Settings(), "durasumi-test") is None
    assert Telemetry.from_settings(Settings(), "durasumi-test").interceptors == []
    on = Settings(otlp_endpoint="http://127.0.0.1:4318")
    assert on.tracing_on and not Settings(otlp_endpoint="http://x:4318", tracing=False).tracing_on
    provider = tracer_provider(on, "durasumi-test")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "durasumi-test"
    provider.shutdown()
    # Without the extra: one clear error naming the fix.
    import sys

    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(TelemetryError, match=r"durasumi\[tracing\]"):
        tracer_provider(on, "durasumi-test")
