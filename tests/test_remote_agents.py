"""Remote MIP-003 agents run durably behind durasumi.

The remote is the ``masumi`` PyPI SDK's own agent server (tests/masumi_agent.py, a separate
process) asking for human input with its HITL API, pointed at the loopback Masumi payment
service (tests/masumi_service.py), whose buyer is played here: every payment request is
locked at once, as if durasumi had paid the remote. Every start_job at the remote creates
one payment request, so the service's POST /payment count is the remote's start_job count.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from durasumi.activities.remote import RemoteSettings, schema_hash
from durasumi.client import jobs
from durasumi.workers.devserver import DevServer, free_port
from durasumi.workers.remote import remote_activities
from durasumi.workers.run import platform_worker, watch_worker
from durasumi.workflows.forms import Field, Form, Group, ShowWhen
from durasumi.workflows.schema_form import form_from_input_schema
from tests.api_fixtures import Api, serve_api
from tests.conftest import ROOT, Stack, agent_queue_prefix, run_cli, wait_until
from tests.masumi_agent import MOOD_SCHEMA
from tests.masumi_service import MasumiService

FAST = RemoteSettings(poll_min_seconds=0.1, poll_max_seconds=0.5, unreachable_seconds=3)


class LockingService(MasumiService):
    """The remote's payment service; its buyer (durasumi, paying out of band) locks at once."""

    def _create(self, b: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        code, data = super()._create(b)
        if code == 200:  # confirmed at once: the SDK's first status check finds it locked
            self._confirm(self.payments[data["blockchainIdentifier"]], "ab" * 32, "FundsLocked")
        return code, data


class MasumiAgent:
    """tests/masumi_agent.py as its own process (kill -9 loses its in-memory jobs)."""

    def __init__(self, service: MasumiService) -> None:
        self.service = service
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.log = tempfile.TemporaryFile()  # the SDK's own log, for a failing test's report

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.masumi_agent", str(self.port), self.service.url,
            self.service.token, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.DEVNULL, stderr=self.log,
        )  # fmt: skip
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(200):
                try:
                    if (await http.get(f"{self.url}/availability")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the masumi agent did not start")

    async def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    def starts(self) -> int:
        """start_job calls the remote served (one payment request each)."""
        return len(self.service.posts("/payment"))


@pytest.fixture
async def remote() -> AsyncIterator[MasumiAgent]:
    service = LockingService().start()
    agent = MasumiAgent(service)
    await agent.start()
    yield agent
    if agent.proc and agent.proc.returncode is None:
        await agent.kill9()
    service.stop()
    agent.log.seek(0)
    sys.stderr.write(agent.log.read().decode(errors="replace")[-4000:])


def make_stack(client: Client, address: str, home: Path) -> Stack:
    prefix = agent_queue_prefix()
    return Stack(client, address, home, f"{prefix}-platform", prefix)


@asynccontextmanager
async def platform(stack: Stack, db_url: str) -> AsyncIterator[None]:
    """The platform worker, driving remote agents from the registry at ``db_url``."""
    activities = remote_activities(db_url, FAST)
    watches = watch_worker(stack.client, stack.platform_queue, remote=activities)
    assert watches is not None
    async with platform_worker(stack.client, stack.platform_queue, remote=activities), watches:
        yield
    await activities.close()


@pytest.fixture
async def remote_api(client: Client, temporal: DevServer, tmp_path: Path) -> AsyncIterator[Api]:
    stack = make_stack(client, temporal.address, tmp_path)
    db_url = f"sqlite:///{tmp_path / 'durasumi.db'}"
    async with platform(stack, db_url):
        async for api in serve_api(stack, db_url, tmp_path):
            yield api


async def mip003_status(http: httpx.AsyncClient, agent: str, job_id: str) -> dict[str, Any]:
    resp = await http.get(f"/agents/{agent}/status", params={"job_id": job_id})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def wait_status(
    http: httpx.AsyncClient, agent: str, job_id: str, wanted: str, timeout: float = 30
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while (body := await mip003_status(http, agent, job_id))["status"] != wanted:
            if body["status"] in ("completed", "failed"):
                job = (await http.get(f"/jobs/{job_id}")).json()
                raise AssertionError(f"{job_id} ended {body['status']}: {job.get('error')}")
            await asyncio.sleep(0.1)
    return body


# -- the schema read back ------------------------------------------------------------------


def test_a_forms_input_schema_reads_back_as_the_same_form() -> None:
    form = Form(
        id="order",
        title="Order",
        fields=[Field.option("plan", "Plan", ["basic", "pro"]), Field.email("mail", "Mail")],
        groups=[
            Group(
                id="seats",
                title="Seats",
                fields=[
                    Field.number(
                        "n",
                        "Seats",
                        min=1,
                        max=9,
                        visible_when=ShowWhen(field="plan", equals="pro"),
                    )
                ],
            )
        ],
    )
    back = form_from_input_schema(form.to_input_schema(), form_id="order", title="Order")
    for values in ({"plan": "pro", "mail": "a@b.io", "n": "3"}, {"plan": "basic", "mail": "x"}):
        assert back.check(values) == form.check(values)
    # The masumi agent's own form: the buyer's answer is checked as the remote would.
    mood = form_from_input_schema(MOOD_SCHEMA, form_id="input", title="t")
    assert [e.code for e in mood.check({"mood": "angry"}).errors] == ["choice", "required"]
    with pytest.raises(ValueError, match="no id"):
        form_from_input_schema({"input_data": [{"type": "text"}]}, form_id="f", title="t")


def test_schema_hash_is_sha256_of_the_canonical_json() -> None:
    import hashlib

    schema = {"input_data": [{"name": "Ünï", "id": "a", "type": "text"}]}
    text = '{"input_data":[{"id":"a","name":"Ünï","type":"text"}]}'  # written by hand
    assert schema_hash(schema) == hashlib.sha256(text.encode()).hexdigest()


# -- through the MIP-003 facade ------------------------------------------------------------


async def test_a_masumi_agent_through_the_mip003_facade(
    remote_api: Api, remote: MasumiAgent
) -> None:
    api = remote_api
    async with api.client("vendor") as http:
        bad = await http.post("/agents", json={"name": "echo", "remote_url": "ftp://x"})
        assert bad.status_code == 422 and "http" in bad.json()["message"]
        dead = f"http://127.0.0.1:{free_port()}"
        gone = await http.post("/agents", json={"name": "echo", "remote_url": dead})
        assert gone.status_code == 422 and "cannot reach" in gone.json()["message"]
        made = await http.post(
            "/agents",
            json={"name": "echo", "remote_url": remote.url, "remote_headers": {"X-Key": "k1"}},
        )
        assert made.status_code == 201, made.text
        assert made.json()["remote"] is True and made.json()["available"] is True
        assert "remote_headers" not in made.json()
        # An update that names neither URL nor queue keeps it remote, on the platform's queue.
        kept = await http.post("/agents", json={"name": "echo", "description": "echoes"})
        assert kept.json()["remote"] is True, kept.text
        assert kept.json()["task_queue"] == api.settings.platform_task_queue
        mixed = {"name": "echo", "remote_url": remote.url, "task_queue": "mine"}
        assert (await http.post("/agents", json=mixed)).status_code == 422
    async with api.client("alice") as http:
        schema = (await http.get("/agents/echo/input_schema")).json()
        assert [f["id"] for f in schema["input_data"]] == ["text", "times"]
        assert (await http.get("/agents/echo/availability")).json()["status"] == "available"
        refused = await http.post(
            "/agents/echo/start_job",
            json={"identifier_from_purchaser": "aa" * 8, "input_data": {"times": 9}},
        )
        assert refused.status_code in (400, 422), refused.text  # checked before the remote
        started = await http.post(
            "/agents/echo/start_job",
            json={"identifier_from_purchaser": "ab" * 8, "input_data": {"text": "hi", "times": 2}},
        )
        assert started.status_code == 200, started.text
        job_id = started.json()["job_id"]
        waiting = await wait_status(http, "echo", job_id, "awaiting_input")
        fields = waiting["input_schema"]["input_data"]
        assert [f["id"] for f in fields] == ["mood", "note"]
        wrong = await http.post(
            "/agents/echo/provide_input",
            json={"job_id": job_id, "status_id": waiting["id"], "input_data": {"mood": "angry"}},
        )
        assert wrong.status_code == 400, wrong.text  # refused by durasumi, the remote never saw it
        answer = await http.post(
            "/agents/echo/provide_input",
            json={
                "job_id": job_id,
                "status_id": waiting["id"],
                "input_data": {"mood": "happy", "note": "sunny"},
            },
        )
        assert answer.status_code == 200, answer.text
        done = await wait_status(http, "echo", job_id, "completed")
        assert done["result"] == "hi hi (happy; sunny)"
        job = (await http.get(f"/jobs/{job_id}")).json()
        async with asyncio.timeout(10):  # SSE: the closed job's whole log, then the end
            sse = (await http.get(f"/jobs/{job_id}/events")).text
    assert job["status"] == "completed" and job["result"] == "hi hi (happy; sunny)"
    assert "started at the remote agent" in sse and "form_requested" in sse
    assert remote.starts() == 1
    # Its calls to the remote ran on the watch queue, never in the escrow steps' slots.
    history = await api.stack.client.get_workflow_handle(f"{job_id}-agent").fetch_history()
    queues = {
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert queues == {f"{api.stack.platform_queue}-watch"}, queues

    await remote.kill9()  # the remote's health is the agent's
    async with api.client("alice") as http:
        down = await http.get("/agents/echo/availability")
        listed = (await http.get("/agents/echo")).json()
    assert down.status_code == 503 and "cannot reach the remote agent" in down.json()["message"]
    assert listed["available"] is False


async def test_a_remote_that_loses_the_job_fails_it_cleanly(
    remote_api: Api, remote: MasumiAgent
) -> None:
    api = remote_api
    async with api.client("vendor") as http:
        made = await http.post("/agents", json={"name": "echo", "remote_url": remote.url})
        assert made.status_code == 201, made.text
    async with api.client("alice") as http:
        jobs = []
        for ident in ("cd" * 8, "ef" * 8):
            started = await http.post(
                "/agents/echo/start_job",
                json={"identifier_from_purchaser": ident, "input_data": {"text": ident}},
            )
            jobs.append(started.json()["job_id"])
            await wait_status(http, "echo", jobs[-1], "awaiting_input")
        # kill -9: the remote loses its in-memory jobs. One job is answered once the remote
        # is back (it no longer knows the job), the other once it is gone for good; both
        # fail at once, with the reason, and never hang.
        await remote.kill9()
        lost, unreachable = jobs
        loop = asyncio.get_running_loop()
        began = loop.time()
        await remote.start()
        waiting = await mip003_status(http, "echo", lost)
        answer = await http.post(
            "/agents/echo/provide_input",
            json={"job_id": lost, "status_id": waiting["id"], "input_data": {"mood": "sad", "note": "x"}},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        await wait_status(http, "echo", lost, "failed")
        view = (await http.get(f"/jobs/{lost}")).json()
        assert view["error"].startswith("RemoteJobLost"), view["error"]
        assert "no longer knows" in view["error"]
        assert loop.time() - began < 20

        await remote.kill9()  # now it stays dead: the job fails once unreachable too long
        waiting = await mip003_status(http, "echo", unreachable)
        await http.post(
            "/agents/echo/provide_input",
            json={"job_id": unreachable, "status_id": waiting["id"], "input_data": {"mood": "sad", "note": "y"}},
        )  # fmt: skip
        await wait_status(http, "echo", unreachable, "failed", timeout=30)
        view = (await http.get(f"/jobs/{unreachable}")).json()
        assert view["error"].startswith("RemoteUnreachable"), view["error"]


# -- through the CLI, with the platform worker killed -------------------------------------


class PlatformWorker:
    """`durasumi worker --platform` as its own process."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = self.stack.env() | {
            "DURASUMI_REMOTE_POLL_MAX_SECONDS": "0.5",
            "DURASUMI_AGENT_QUEUE_PREFIX": self.stack.prefix,
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "worker", "--platform", "--no-register",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while b"worker running" not in (line := await self.proc.stdout.readline()):
                assert line, "the platform worker stopped"

    async def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 40)


async def test_through_the_cli_with_the_platform_worker_killed_mid_job(
    client: Client, temporal: DevServer, tmp_path: Path, remote: MasumiAgent
) -> None:
    stack = make_stack(client, temporal.address, tmp_path)
    code, out, err = await run_cli(stack, "add-remote", "echo", "ftp://nope")
    assert code == 2 and "http" in err
    code, out, err = await run_cli(stack, "add-remote", "echo", remote.url, "-H", "X-Key: k1")
    assert code == 0, err
    assert "registered remote agent echo" in out
    worker = PlatformWorker(stack)
    await worker.start()
    try:
        code, out, err = await run_cli(stack, "agents", "--json")
        assert code == 0, err
        (row,) = json.loads(out)
        assert row["available"] is True and row["task_queue"] == stack.platform_queue
        code, out, err = await run_cli(
            stack, "start", "echo", "-F", "text=hello", "--id", uuid.uuid4().hex[:16], "--json"
        )
        assert code == 0, err
        job_id = json.loads(out)["job_id"]

        async def status() -> str:
            _, out, _ = await run_cli(stack, "status", job_id)
            return out

        async with asyncio.timeout(30):
            while "awaiting_input" not in await status():
                await asyncio.sleep(0.2)
        await worker.kill9()  # mid job: the remote waits for the form's answer
        await worker.start()
        code, out, err = await run_cli(
            stack, "signal", job_id, "-F", "mood=sad", "-F", "note=rainy"
        )
        assert code == 0, err
        code, out, err = await run_cli(stack, "result", job_id, "--wait", timeout=60)
        assert code == 0, err + out
        assert "hello (sad; rainy)" in out
        assert remote.starts() == 1  # the restarted worker never started the remote job again
    finally:
        await worker.stop()
    await wait_until(lambda: worker.proc is not None and worker.proc.returncode is not None)


# -- durasumi as the remote agent of durasumi ----------------------------------------------


async def test_another_durasumi_facade_as_the_remote_agent(
    remote_api: Api, sqlite_api: Api
) -> None:
    """The trip planner of a second stack, behind the first, with a buyer key of the second."""
    first, second = remote_api, sqlite_api
    url = f"{second.url}/agents/trip-planner"
    async with first.client("operator") as http:
        made = await http.post(
            "/agents",
            json={"name": "trips", "remote_url": url, "remote_headers": {"X-API-Key": second.keys["bob"]}},
        )  # fmt: skip
        assert made.status_code == 201, made.text
    async with first.client("alice") as http:
        started = await http.post(
            "/agents/trips/start_job",
            json={"identifier_from_purchaser": "12" * 8, "input_data": {"destination": "Lima"}},
        )
        assert started.status_code == 200, started.text
        job_id = started.json()["job_id"]
        first_form = await wait_status(http, "trips", job_id, "awaiting_input")
        names = [f["id"] for f in first_form["input_schema"]["input_data"]]
        assert names == ["adults", "children", "children_ages"]
        hidden = await http.post(
            f"/jobs/{job_id}/input",
            json={"values": {"adults": 2, "children": False, "children_ages": "3"}},
        )
        assert hidden.status_code == 422, hidden.text  # the condition came through the schema
        ok = await http.post(
            f"/jobs/{job_id}/input", json={"values": {"adults": 2, "children": True, "children_ages": "4,7"}}
        )  # fmt: skip
        assert ok.status_code == 200, ok.text
        async with asyncio.timeout(30):
            while (now := await mip003_status(http, "trips", job_id))["id"] == first_form["id"] or (
                now["status"] != "awaiting_input"
            ):
                await asyncio.sleep(0.1)
        assert [f["id"] for f in now["input_schema"]["input_data"]] == ["level", "notes"]
        ok = await http.post(f"/jobs/{job_id}/input", json={"values": {"level": "comfort"}})
        assert ok.status_code == 200, ok.text
        done = await wait_status(http, "trips", job_id, "completed")
    plan = json.loads(done["result"])
    assert plan["summary"] == "4 traveller(s) to Lima, with children aged 4,7, comfort budget"
    # The second stack ran the job, for its buyer bob, and returned what it computed.
    events = await jobs.job_events(first.stack.client, job_id)
    (remote_id,) = {str(e.data["remote_job_id"]) for e in events if "remote_job_id" in e.data}
    async with second.client("bob") as http:
        there = (await http.get(f"/jobs/{remote_id}")).json()
    assert there["buyer"] == "bob" and there["status"] == "completed"
    assert there["result"] == plan
