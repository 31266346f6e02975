"""Availability tells the truth: an agent is available only while a worker that can serve it
polls its task queue; otherwise MIP-003 /availability, GET /agents and `durasumi agents` say why.
"""

from __future__ import annotations

import asyncio
import os
import sys

from durasumi.examples.gpu_batch import GpuBatch
from durasumi.examples.llm_qa import LlmQa
from durasumi.examples.trip_planner import TripPlanner
from durasumi.workers.readiness import worker_problem
from durasumi.workers.settings import Settings
from tests.api_fixtures import Api
from tests.conftest import ROOT


def test_what_a_worker_lacks_is_named() -> None:
    bare = Settings(llm_base_url=None)
    assert (
        worker_problem(LlmQa, bare) == "no LLM is configured on its worker (DURASUMI_LLM_BASE_URL)"
    )
    assert worker_problem(LlmQa, Settings(llm_base_url="http://127.0.0.1:9/v1")) is None
    assert worker_problem(TripPlanner, bare) is None
    assert worker_problem(GpuBatch, bare) is None  # the test extras install Ray


async def availability(api: Api, agent: str) -> tuple[int, dict]:
    async with api.client() as http:
        resp = await http.get(f"/agents/{agent}/availability")
        return resp.status_code, resp.json()


async def listed(api: Api, agent: str) -> dict:
    async with api.client("alice") as http:
        return next(a for a in (await http.get("/agents")).json() if a["name"] == agent)


async def test_an_agent_whose_worker_has_no_llm_is_unavailable_with_the_reason(
    sqlite_api: Api,
) -> None:
    api = sqlite_api
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURASUMI_LLM")}
    env |= api.stack.env() | {
        "DURASUMI_AGENT_QUEUE_PREFIX": api.stack.prefix,
        "DURASUMI_API_URL": api.url,
        "DURASUMI_API_KEY": api.keys["vendor"],
    }
    # No worker at all.
    async with api.client("vendor") as http:
        assert (await http.post("/agents", json={"name": "llm-qa"})).status_code == 201
    code, body = await availability(api, "llm-qa")
    assert code == 503 and body == {
        "status": "unavailable", "type": "masumi-agent",
        "message": "no worker serves llm-qa right now",
    }  # fmt: skip

    # A worker without an LLM: it polls, but cannot serve the agent.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "worker", "--agent",
        "durasumi.examples.llm_qa:LlmQa", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while b"worker running" not in await proc.stdout.readline():
                assert proc.returncode is None
        code, body = await availability(api, "llm-qa")
        assert code == 503
        assert body["message"] == (
            "llm-qa cannot run jobs: no LLM is configured on its worker (DURASUMI_LLM_BASE_URL)"
        )
        row = await listed(api, "llm-qa")
        assert row["available"] is False and "no LLM is configured" in row["unavailable_reason"]
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "agents",
            cwd=ROOT, env=env | {"DURASUMI_DATABASE_URL": api.settings.db_url, "COLUMNS": "300"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await cli.communicate()
        assert cli.returncode == 0, err
        assert "no LLM is configured" in out.decode()
    finally:
        proc.terminate()
        await proc.wait()

    # A worker that can serve it registers without a problem: available again.
    async with api.client("vendor") as http:
        fixed = await http.post("/agents", json={"name": "llm-qa", "worker_problem": None})
        assert fixed.status_code == 201
    # (Temporal lists a stopped worker's poller for a while: noticing that is a later step.)
    assert "LLM" not in str((await listed(api, "llm-qa"))["unavailable_reason"])
    code, body = await availability(api, "trip-planner")  # served by the stack's workers
    assert code == 200 and body["status"] == "available"
