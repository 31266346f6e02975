"""Metrics: the workers' Prometheus endpoint (SDK + job counters) and the API's GET /metrics.

Real jobs on the real dev server; each test scrapes before and after and looks for the
counters that moved, filtered by its own task queues.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from durasumi.activities.escrow.dev import dev_escrow
from durasumi.activities.escrow.port import EscrowActivities
from durasumi.client import jobs
from durasumi.client.connect import connect
from durasumi.client.jobs import job_result
from durasumi.db.registry import Registry, describe
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import TelemetryError, metrics_runtime
from durasumi.workflows.escrow_models import EscrowState
from durasumi.workflows.models import JobStatus, Submission
from tests.api_fixtures import Api, serve_api
from tests.conftest import ROOT, Stack, running_stack
from tests.escrow_agents import PaidEcho
from tests.test_escrow_saga import Paid, env  # noqa: F401  (env: the time-skipping server)

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample line, names exactly as exposed."""
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            name, labels, value = match.groups()
            yield name, dict(LABEL.findall(labels or "")), float(value)


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(v for n, ls, v in samples(text) if n == name and labels.items() <= ls.items())


def label_values(text: str, name: str, label: str) -> set[str]:
    return {ls[label] for n, ls, _ in samples(text) if n == name and label in ls}


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def runtime(metrics_port: int) -> Runtime:
    """One Temporal runtime serving Prometheus text for this module's workers."""
    return metrics_runtime("127.0.0.1", metrics_port)


@pytest.fixture
async def metered(temporal: DevServer, runtime: Runtime, tmp_path: Path) -> AsyncIterator[Api]:
    """Platform + agent workers on a client connected with the metrics runtime, and the API."""

    client = await connect(Settings(temporal_address=temporal.address), runtime=runtime)
    async with running_stack(client, temporal.address, tmp_path) as stack:
        async for api in serve_api(stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path):
            yield api


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


async def start(http: httpx.AsyncClient, agent: str, input_data: dict) -> str:
    resp = await http.post(
        f"/agents/{agent}/start_job",
        json={"identifier_from_purchaser": uuid.uuid4().hex[:16], "input_data": input_data},
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["job_id"])


async def wait_status(http: httpx.AsyncClient, agent: str, job_id: str, wanted: str) -> None:
    body: dict = {}
    for _ in range(300):
        body = (await http.get(f"/agents/{agent}/status", params={"job_id": job_id})).json()
        if body["status"] == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{job_id} never reached {wanted}: {body}")


async def test_job_counters_sdk_metrics_and_api_routes_move(
    metered: Api, metrics_port: int, tmp_path: Path
) -> None:
    workers_url = f"http://127.0.0.1:{metrics_port}/metrics"
    queue = metered.stack.platform_queue
    before = await scrape(workers_url)
    counter = {"trace": str(tmp_path / "t"), "before": 0, "after": 0, "step_seconds": 0}
    async with metered.client("alice") as http:
        api_before = (await http.get("/metrics")).text
        done = await start(http, "counter", counter)
        broken = await start(http, "broken", {})
        stopped = await start(http, "counter", {**counter, "after": 1})
        for job_id, agent in ((done, "counter"), (broken, "broken"), (stopped, "counter")):
            await wait_status(http, agent, job_id, "awaiting_input")
        for job_id in (done, broken):
            resp = await http.post(f"/jobs/{job_id}/input", json={"values": {"text": "ok"}})
            assert resp.status_code == 200, resp.text
        assert (await http.post(f"/jobs/{stopped}/cancel", json={})).status_code == 202
        await wait_status(http, "counter", done, "completed")
        await wait_status(http, "broken", broken, "failed")
        for _ in range(300):  # MIP-003 has no "cancelled": read the job view
            if (await http.get(f"/jobs/{stopped}")).json()["status"] == "cancelled":
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/agents/nobody/status", params={"job_id": "x"})).status_code == 404
        assert (await http.get(f"/no/such/{done}")).status_code == 404
        api_after = (await http.get("/metrics")).text

    # The worker endpoint: durasumi's job counters by agent, and the SDK's own metrics.
    moved: dict[tuple[str, str], float] = {}

    async def counters() -> dict[tuple[str, str], float]:
        after = await scrape(workers_url)
        return {
            (event, agent): total(after, f"durasumi_jobs_{event}", agent=agent, task_queue=queue)
            - total(before, f"durasumi_jobs_{event}", agent=agent, task_queue=queue)
            for event in ("started", "completed", "failed", "cancelled", "refunded")
            for agent in ("counter", "broken")
        }

    expected = {
        ("started", "counter"): 2,
        ("started", "broken"): 1,
        ("completed", "counter"): 1,
        ("failed", "broken"): 1,
        ("cancelled", "counter"): 1,
    }
    for _ in range(50):
        moved = await counters()
        if {k: v for k, v in moved.items() if v} == expected:
            break
        await asyncio.sleep(0.1)
    assert {k: v for k, v in moved.items() if v} == expected

    after = await scrape(workers_url)
    assert "# TYPE durasumi_jobs_started counter" in after
    job_wf = {"workflow_type": "JobWorkflow", "task_queue": queue}
    # The completed job closes as Completed; the failed and the cancelled one as Failed.
    assert (
        total(after, "temporal_workflow_completed", **job_wf)
        - total(before, "temporal_workflow_completed", **job_wf)
        == 1
    )
    assert (
        total(after, "temporal_workflow_failed", **job_wf)
        - total(before, "temporal_workflow_failed", **job_wf)
        == 2
    )
    assert total(after, "temporal_workflow_failed", workflow_type="broken") >= 1
    starts = {"operation": "StartWorkflowExecution"}
    assert (
        total(after, "temporal_request", **starts) - total(before, "temporal_request", **starts)
        >= 3
    )

    # The API: counted by route template and status, never by raw path.
    start_route = {"method": "POST", "route": "/agents/{agent}/start_job", "status": "200"}
    assert (
        total(api_after, "durasumi_api_requests_total", **start_route)
        - total(api_before, "durasumi_api_requests_total", **start_route)
        == 3
    )
    status_route = {"method": "GET", "route": "/agents/{agent}/status"}
    assert total(api_after, "durasumi_api_requests_total", **status_route, status="200") >= 6
    assert total(api_after, "durasumi_api_requests_total", **status_route, status="404") == 1
    assert (
        total(api_after, "durasumi_api_requests_total", route="/jobs/{job_id}/cancel", status="202")
        == 1
    )
    assert total(api_after, "durasumi_api_requests_total", route="unmatched", status="404") == 1
    assert total(api_after, "durasumi_api_request_duration_seconds_count", **start_route) == 3
    assert total(api_after, "durasumi_api_request_duration_seconds_sum", **start_route) > 0
    routes = label_values(api_after, "durasumi_api_requests_total", "route")
    assert not any(done in r or "nobody" in r for r in routes), routes
    assert {"/metrics", "/jobs/{job_id}/input", "/jobs/{job_id}"} <= routes


async def test_api_metrics_can_be_turned_off(metered: Api) -> None:
    from durasumi.api.app import create_app

    settings = metered.settings.model_copy(update={"api_metrics": False})
    app = create_app(settings, metered.stack.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        assert (await http.get("/metrics")).status_code == 404
    assert app.state.metrics is None


async def test_refunded_paid_job_is_counted(
    env: WorkflowEnvironment,  # noqa: F811
    runtime: Runtime,
    metrics_port: int,
    tmp_path: Path,
) -> None:
    """A paid job whose agent fails: failed and refunded on the offline escrow."""
    client = await env.connect_client(runtime=runtime, data_converter=pydantic_data_converter)
    dev = dev_escrow()
    prefix = f"m-{uuid.uuid4().hex[:8]}"
    record = Registry(f"sqlite:///{tmp_path / 'durasumi.db'}").upsert(
        describe(PaidEcho, task_queue=f"{prefix}-paid-echo", vendor="tests")
    )
    workers = [
        platform_worker(client, f"{prefix}-platform", escrow=EscrowActivities(dev.backend())),
        agent_worker(client, [PaidEcho], f"{prefix}-paid-echo"),
    ]
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    labels = {"agent": "paid-echo", "task_queue": f"{prefix}-platform"}
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        paid = Paid(env.client, env, dev, f"{prefix}-platform", record)
        started = await paid.start("fail")
        result = await job_result(started.handle)
        assert result.status is JobStatus.FAILED
        view = await paid.view(started.job_id)
        assert view.escrow is not None and view.escrow.state is EscrowState.REFUND_WITHDRAWN
        text = await scrape(url)
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
    assert total(text, "durasumi_jobs_refunded", **labels) == 1
    assert total(text, "durasumi_jobs_failed", **labels) == 1
    assert total(text, "durasumi_jobs_started", **labels) == 1
    assert total(text, "durasumi_jobs_completed", **labels) == 0


def test_metrics_port_taken_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TelemetryError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            metrics_runtime("127.0.0.1", port)


@pytest.fixture
def worker_env(stack: Stack) -> Iterator[dict[str, str]]:
    port = free_port()
    yield stack.env() | {
        "DURASUMI_METRICS_PORT": str(port),
        "DURASUMI_PLATFORM_TASK_QUEUE": f"{stack.prefix}-metered-platform",
        "NO_COLOR": "1",
    }


async def test_durasumi_worker_serves_metrics(stack: Stack, worker_env: dict[str, str]) -> None:
    """`durasumi worker --platform` with DURASUMI_METRICS_PORT: its jobs show up there."""
    port = worker_env["DURASUMI_METRICS_PORT"]
    queue = worker_env["DURASUMI_PLATFORM_TASK_QUEUE"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "worker", "--platform",
        cwd=ROOT, env=worker_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        text = ""
        for _ in range(300):
            try:
                text = await scrape(url)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        assert "temporal_" in text
        # A second worker on the same port: one clear line, exit 2.
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "worker", "--platform",
            cwd=ROOT, env=worker_env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2, err.decode()
        assert f"cannot serve metrics on 127.0.0.1:{port}" in err.decode()
        assert len(err.decode().strip().splitlines()) == 1, err.decode()

        job = await jobs.start_job(
            stack.client, stack.records["counter"], uuid.uuid4().hex[:16],
            {"trace": "/dev/null", "before": 0, "after": 0, "step_seconds": 0},
            platform_task_queue=queue, buyer="tester",
        )  # fmt: skip
        await stack.wait_for(job.job_id, JobStatus.AWAITING_INPUT)
        await jobs.submit_form(stack.client, job.job_id, Submission(values={"text": "ok"}))
        await stack.wait_for(job.job_id, JobStatus.COMPLETED)
        labels = {"agent": "counter", "task_queue": queue}

        async def counted() -> bool:
            text = await scrape(url)
            return total(text, "durasumi_jobs_completed", **labels) == 1

        for _ in range(50):
            if await counted():
                break
            await asyncio.sleep(0.1)
        text = await scrape(url)
        assert total(text, "durasumi_jobs_started", **labels) == 1
        assert total(text, "durasumi_jobs_completed", **labels) == 1
        assert total(text, "temporal_workflow_completed", workflow_type="JobWorkflow") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert f"metrics at http://127.0.0.1:{port}/metrics" in out.decode()
