"""The platform worker dies or stalls: the API answers at once, truthfully, and loses nothing.

The platform worker runs as `durasumi worker --platform` in a process of its own, heartbeating
every second, so kill -9 and SIGSTOP hit it as they would in production; the agents' workers
and the API run in the test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.api.workflowservice.v1 import ListWorkersRequest
from temporalio.client import Client

from durasumi.client import jobs
from durasumi.client.liveness import queue_liveness
from durasumi.workflows.models import EventKind
from tests.api_fixtures import Api, serve_api
from tests.conftest import ROOT, Stack
from tests.test_api_jobs import start

TRAVELLERS = {"adults": 2, "children": False}


class PlatformProcess:
    """`durasumi worker --platform` on the stack's platform queue."""

    def __init__(self, stack: Stack) -> None:
        self.env = stack.env() | {
            "DURASUMI_PLATFORM_TASK_QUEUE": stack.platform_queue,
            "DURASUMI_WORKER_HEARTBEAT_SECONDS": "1",
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "worker", "--platform",
            cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def second_beat(client: Client, task_queue: str) -> None:
    """Wait for a worker's second heartbeat on the queue: from then on its interval is known.

    (Its first beat comes as it starts and says nothing of the interval; until the second,
    client/liveness.py assumes the SDK's default of a minute.)
    """
    request = ListWorkersRequest(namespace=client.namespace, query=f"TaskQueue = '{task_queue}'")
    for _ in range(100):
        workers = (await client.workflow_service.list_workers(request)).workers_info
        if any(w.worker_heartbeat.elapsed_since_last_heartbeat.ToTimedelta() for w in workers):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker heartbeated twice on {task_queue}")


async def heartbeating(api: Api) -> None:
    await second_beat(api.stack.client, api.stack.platform_queue)


@pytest.fixture
async def outage(stack: Stack, tmp_path: Path) -> AsyncIterator[tuple[Api, PlatformProcess]]:
    """The API and a platform worker process of their own (the stack's agents serve jobs)."""
    stack.platform_queue = f"{stack.prefix}-outage-platform"
    worker = PlatformProcess(stack)
    await worker.start()
    try:
        async for api in serve_api(
            stack,
            f"sqlite:///{tmp_path / 'api.db'}",
            tmp_path,
            api_worker_timeout=2.0,
            worker_heartbeat_seconds=1.0,
        ):
            await heartbeating(api)
            yield api, worker
    finally:
        await worker.close()


async def timed(call: asyncio.Future[httpx.Response] | object) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = await call  # type: ignore[misc]
    return response, time.monotonic() - began


async def wait_job(http: httpx.AsyncClient, job_id: str, status: str) -> dict:
    """Poll GET /jobs/ID until the job reaches ``status``, retrying 503s as a client would.

    (Right after a worker restart, a job the dead worker had cached waits for Temporal's
    sticky-queue timeout before the new worker gets it: a 503 with Retry-After meanwhile.)
    """
    for _ in range(150):
        resp = await http.get(f"/jobs/{job_id}")
        assert resp.status_code in (200, 503), resp.text
        if resp.status_code == 200 and resp.json()["status"] == status:
            return dict(resp.json())
        await asyncio.sleep(0.1)
    raise AssertionError(f"{job_id} never reached {status}: {resp.text}")


async def until_status(http: httpx.AsyncClient, url: str, code: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (resp := await http.get(url)).status_code != code:
        assert time.monotonic() < deadline, f"{url} still answers {resp.status_code}: {resp.text}"
        await asyncio.sleep(0.2)


async def test_platform_worker_killed_503_then_nothing_lost(
    outage: tuple[Api, PlatformProcess],
) -> None:
    api, worker = outage
    answered = await start(api, "alice", "trip-planner", {"destination": "Oslo"})
    cancelled = await start(api, "alice", "trip-planner", {"destination": "Bergen"})
    async with api.client("alice") as alice, api.client("bob") as bob:
        await wait_job(alice, answered, "awaiting_input")
        await wait_job(alice, cancelled, "awaiting_input")

        worker.signal(signal.SIGKILL)
        # Noticed after three missed heartbeats (1 s each here), not minutes later.
        began = time.monotonic()
        while not (await queue_liveness(api.stack.client, api.stack.platform_queue)).down:
            assert time.monotonic() - began < 6, "a killed worker still counts as alive"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.1)  # the API reads the heartbeats at most once a second

        resp, took = await timed(alice.get(f"/jobs/{answered}"))
        assert resp.status_code == 503 and took < 2, (resp.text, took)
        assert resp.json()["error"] == "platform_unavailable"
        assert int(resp.headers["Retry-After"]) >= 1
        # Ownership needs no worker: someone else's job is still a plain 404, at once.
        resp, took = await timed(bob.get(f"/jobs/{answered}"))
        assert resp.status_code == 404 and took < 2
        resp, took = await timed(alice.post(f"/jobs/{answered}/input", json={"values": TRAVELLERS}))
        assert resp.status_code == 503 and took < 2, (resp.text, took)
        assert resp.json()["error"] == "platform_unavailable"
        # A cancel is a signal: Temporal keeps it for the worker that comes back.
        resp, took = await timed(alice.post(f"/jobs/{cancelled}/cancel", json={"reason": "x"}))
        assert resp.status_code == 202 and took < 2, (resp.text, took)

        await worker.start()
        await until_status(alice, f"/jobs/{answered}", 200)
        ok = await alice.post(f"/jobs/{answered}/input", json={"values": TRAVELLERS})
        assert ok.status_code == 200, ok.text
        job = await wait_job(alice, answered, "awaiting_input")
        assert job["pending_form"]["form"]["id"] == "budget"
        gone = await wait_job(alice, cancelled, "cancelled")
        assert gone["error"] == "x"


async def test_an_answer_that_times_out_is_applied_once_and_safe_to_resend(
    outage: tuple[Api, PlatformProcess],
) -> None:
    api, worker = outage
    job_id = await start(api, "alice", "trip-planner", {"destination": "Tromso"})
    async with api.client("alice") as alice:
        job = await wait_job(alice, job_id, "awaiting_input")
        answer = {"request_id": job["pending_form"]["request_id"], "values": TRAVELLERS}
        worker.signal(signal.SIGSTOP)  # alive to Temporal for a few seconds, answering nothing
        try:
            resp, took = await timed(alice.post(f"/jobs/{job_id}/input", json=answer))
        finally:
            worker.signal(signal.SIGCONT)
        assert resp.status_code == 504, resp.text
        assert resp.json()["error"] == "answer_timeout" and took < 5  # api_worker_timeout: 2 s
        assert "may still be applied" in resp.json()["message"]
        assert "same request_id is safe" in resp.json()["message"]

        # The worker resumes and applies the answer; sending it again gets the same outcome.
        await wait_job(alice, job_id, "awaiting_input")
        for _ in range(100):
            job = (await alice.get(f"/jobs/{job_id}")).json()
            if job["pending_form"] and job["pending_form"]["form"]["id"] == "budget":
                break
            await asyncio.sleep(0.1)
        assert job["pending_form"]["form"]["id"] == "budget", job
        again = await alice.post(f"/jobs/{job_id}/input", json=answer)
        assert again.status_code == 200, again.text
        assert again.json()["request_id"] == answer["request_id"]
        job = (await alice.get(f"/jobs/{job_id}")).json()
        assert job["pending_form"]["form"]["id"] == "budget"  # not answered twice
    events = await jobs.job_events(api.stack.client, job_id)
    submitted = [e for e in events if e.kind is EventKind.FORM_SUBMITTED]
    assert len(submitted) == 1, submitted


async def test_availability_notices_a_killed_vendor_worker_in_seconds(
    stack: Stack, tmp_path: Path
) -> None:
    prefix = f"{stack.prefix}-solo"
    stack.records["counter"] = stack.records["counter"].model_copy(
        update={"task_queue": f"{prefix}-counter"}
    )
    env = stack.env() | {
        "DURASUMI_AGENT_QUEUE_PREFIX": prefix,
        "DURASUMI_WORKER_HEARTBEAT_SECONDS": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "worker", "--no-register", "--agent",
        "tests.agents:CounterAgent", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async for api in serve_api(stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path):
            async with api.client() as http:
                url = "/agents/counter/availability"
                for _ in range(100):  # up, and its second heartbeat in (its interval known)
                    if (await http.get(url)).json()["status"] == "available":
                        break
                    await asyncio.sleep(0.1)
                await second_beat(stack.client, f"{prefix}-counter")
                assert (await http.get(url)).json()["status"] == "available"
                os.kill(proc.pid, signal.SIGKILL)
                killed = time.monotonic()
                while (body := (await http.get(url)).json())["status"] == "available":
                    assert time.monotonic() - killed < 6, "a dead worker still looks available"
                    await asyncio.sleep(0.2)
                assert "stopped heartbeating" in body["message"], body
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_a_live_stream_waits_out_a_stalled_platform_worker(
    outage: tuple[Api, PlatformProcess],
) -> None:
    """A read that times out mid-stream keeps the stream open; it goes on from where it was."""
    api, worker = outage
    job_id = await start(api, "alice", "trip-planner", {"destination": "Narvik"})
    lines: list[str] = []
    waiting = asyncio.Event()

    async def follow(http: httpx.AsyncClient) -> None:
        async with http.stream("GET", f"/jobs/{job_id}/events", timeout=120) as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                lines.append(line)
                if line.startswith(": waiting"):
                    waiting.set()

    async with api.client("alice") as alice:
        job = await wait_job(alice, job_id, "awaiting_input")
        worker.signal(signal.SIGSTOP)  # its heartbeat is still fresh: the stream opens
        try:
            follower = asyncio.create_task(follow(alice))
            await asyncio.wait_for(waiting.wait(), 30)  # the first read timed out (10 s)
        finally:
            worker.signal(signal.SIGCONT)
        for values in (TRAVELLERS, {"level": "comfort"}):
            request_id = job["pending_form"]["request_id"]
            for _ in range(100):  # 503 until the worker's heartbeats are seen again
                resp = await alice.post(
                    f"/jobs/{job_id}/input", json={"request_id": request_id, "values": values}
                )
                if resp.status_code != 503:
                    break
                await asyncio.sleep(0.2)
            assert resp.status_code == 200, resp.text
            if values is TRAVELLERS:
                for _ in range(100):
                    job = await wait_job(alice, job_id, "awaiting_input")
                    if job["pending_form"]["request_id"] != request_id:
                        break
                    await asyncio.sleep(0.1)
        await asyncio.wait_for(follower, 60)
    ids = [int(line[4:]) for line in lines if line.startswith("id: ")]
    assert ids == list(range(1, len(ids) + 1)), ids  # one stream: nothing lost or repeated
    assert "event: result" in lines and lines[-3:] == ["event: end", "data: {}", ""], lines[-4:]
