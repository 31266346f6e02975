"""The facade's overhead: the same jobs over HTTP (MIP-003) and through the Temporal client.

One run starts ``durasumi dev`` (Temporal + workers + API) on free ports in a temp folder,
then, alternating batches so machine noise hits both alike:

- start -> awaiting_input, and submit both trip-planner forms -> completed, over HTTP and
  through the Temporal client (``client.jobs``), reporting p50/p95 and the ratios;
- GET /status requests per second, p50 and p99, under 50 concurrent loopback clients.

Usage: python -m bench.api [--jobs 30] [--status-seconds 10] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from durasumi.client import jobs
from durasumi.db.keys import KeyStore, Role
from durasumi.db.registry import Registry
from durasumi.workers.devserver import free_port
from durasumi.workflows.models import JobStatus, Submission

POLL = 0.01
TRAVELLERS = {"adults": 2, "children": False}
BUDGET = {"level": "comfort"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def http_job(http: httpx.AsyncClient) -> tuple[float, float]:
    t0 = time.perf_counter()
    resp = await http.post(
        "/agents/trip-planner/start_job",
        json={
            "identifier_from_purchaser": secrets.token_hex(8),
            "input_data": {"destination": "Oslo"},
        },
    )
    job_id = resp.json()["job_id"]
    status = await wait_http(http, job_id, "awaiting_input")
    t1 = time.perf_counter()
    for values in (TRAVELLERS, BUDGET):
        await http.post(
            "/agents/trip-planner/provide_input",
            json={"job_id": job_id, "status_id": status["id"], "input_data": values},
        )
        status = await wait_http(
            http,
            job_id,
            "awaiting_input" if values is TRAVELLERS else "completed",
            not_id=status["id"],
        )
    return t1 - t0, time.perf_counter() - t1


async def wait_http(
    http: httpx.AsyncClient, job_id: str, wanted: str, not_id: str | None = None
) -> dict:
    while True:
        body = (await http.get("/agents/trip-planner/status", params={"job_id": job_id})).json()
        if body["status"] == wanted and body["id"] != not_id:
            return body
        await asyncio.sleep(POLL)


async def client_job(client: Client, record, platform_queue: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    started = await jobs.start_job(
        client,
        record,
        secrets.token_hex(8),
        {"destination": "Oslo"},
        platform_task_queue=platform_queue,
        buyer="bench",
    )
    request = await wait_view(client, started.job_id, None)
    t1 = time.perf_counter()
    await jobs.submit_form(
        client, started.job_id, Submission(request_id=request, values=TRAVELLERS)
    )
    request = await wait_view(client, started.job_id, request)
    await jobs.submit_form(client, started.job_id, Submission(request_id=request, values=BUDGET))
    while (await jobs.job_view(client, started.job_id)).status is not JobStatus.COMPLETED:
        await asyncio.sleep(POLL)
    return t1 - t0, time.perf_counter() - t1


async def wait_view(client: Client, job_id: str, previous: str | None) -> str:
    while True:
        view = await jobs.job_view(client, job_id)
        if view.pending_form is not None and view.pending_form.request_id != previous:
            return view.pending_form.request_id
        await asyncio.sleep(POLL)


async def status_load(
    url: str, key: str, job_id: str, clients: int, seconds: float
) -> tuple[float, float, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                resp = await http.get("/agents/trip-planner/status", params={"job_id": job_id})
                assert resp.status_code == 200
                latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - start), pct(latencies, 0.5), pct(latencies, 0.99)


async def main(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="durasumi-bench-api-"))
    ports = {
        k: free_port()
        for k in ("DURASUMI_DEV_TEMPORAL_PORT", "DURASUMI_DEV_UI_PORT", "DURASUMI_API_PORT")
    }
    env = {**os.environ, "DURASUMI_HOME": str(home), **{k: str(v) for k, v in ports.items()}}
    env.pop("DURASUMI_TEMPORAL_ADDRESS", None)
    dev = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "durasumi.cli.main",
        "dev",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert dev.stdout is not None
    while b"worker running" not in await dev.stdout.readline():
        pass
    try:
        url = f"http://127.0.0.1:{ports['DURASUMI_API_PORT']}"
        db = f"sqlite:///{home / 'durasumi.db'}"
        key = KeyStore(db).create(Role.BUYER, "bench").key
        record = Registry(db).get("trip-planner")
        assert record is not None
        client = await Client.connect(
            f"127.0.0.1:{ports['DURASUMI_DEV_TEMPORAL_PORT']}",
            data_converter=pydantic_data_converter,
        )
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
            for _ in range(50):
                try:
                    await http.get("/agents/trip-planner/availability")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            results: dict[str, list[tuple[float, float]]] = {"http": [], "client": []}
            for _ in range(args.jobs):  # alternate, one job at a time
                results["http"].append(await http_job(http))
                results["client"].append(await client_job(client, record, "durasumi-platform"))
            job_for_status = (
                await http.post(
                    "/agents/trip-planner/start_job",
                    json={
                        "identifier_from_purchaser": secrets.token_hex(8),
                        "input_data": {"destination": "Rome"},
                    },
                )
            ).json()["job_id"]
            await wait_http(http, job_for_status, "awaiting_input")
        rps, p50, p99 = await status_load(
            url, key, job_for_status, args.clients, args.status_seconds
        )
    finally:
        dev.send_signal(signal.SIGINT)
        await dev.wait()

    print(f"facade overhead, {args.jobs} sequential jobs per path (trip-planner: start, 2 forms)")
    print(
        f"{'path':8} {'start->input p50':>17} {'p95':>8} {'submit->done p50':>17} {'p95':>8}  (ms)"
    )
    rows = {}
    for path, samples in results.items():
        first = [a for a, _ in samples]
        rest = [b for _, b in samples]
        rows[path] = (pct(first, 0.5), pct(first, 0.95), pct(rest, 0.5), pct(rest, 0.95))
        print(
            f"{path:8} {rows[path][0]:17.1f} {rows[path][1]:8.1f} {rows[path][2]:17.1f} {rows[path][3]:8.1f}"
        )
    ratios = [h / c for h, c in zip(rows["http"], rows["client"], strict=True)]
    print("ratio http/client: " + " ".join(f"{r:.2f}" for r in ratios))
    print(
        f"GET /status under {args.clients} clients for {args.status_seconds:.0f}s: {rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        f"(mean of the two start->input medians: {statistics.mean([rows['http'][0], rows['client'][0]]):.1f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--status-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
