"""The jobs API: lifecycle, refused answers, cancel, pagination, SSE, limits."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx

from tests.api_fixtures import Api


async def start(api: Api, who: str, agent: str, input_data: dict) -> str:
    async with api.client(who) as http:
        resp = await http.post(
            f"/agents/{agent}/start_job",
            json={"identifier_from_purchaser": secrets.token_hex(8), "input_data": input_data},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["job_id"]


async def wait_job(http: httpx.AsyncClient, job_id: str, status: str) -> dict:
    for _ in range(150):
        body = (await http.get(f"/jobs/{job_id}")).json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{job_id} never reached {status}: {body}")


async def read_sse(
    http: httpx.AsyncClient, job_id: str, headers: dict | None = None, stop_after: int | None = None
) -> list[dict]:
    events: list[dict] = []
    async with http.stream("GET", f"/jobs/{job_id}/events", headers=headers or {}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        block: dict = {}
        async for line in resp.aiter_lines():
            if line.startswith("id: "):
                block["id"] = int(line[4:])
            elif line.startswith("event: "):
                block["event"] = line[7:]
            elif line.startswith("data: "):
                block["data"] = json.loads(line[6:])
            elif line == "" and block:
                events.append(block)
                block = {}
                if stop_after is not None and len(events) >= stop_after:
                    break
    return events


async def test_lifecycle_over_jobs_api(api: Api) -> None:
    job_id = await start(api, "alice", "trip-planner", {"destination": "Quito"})
    async with api.client("alice") as http:
        job = await wait_job(http, job_id, "awaiting_input")
        assert job["pending_form"]["form"]["id"] == "travellers"
        refused = await http.post(
            f"/jobs/{job_id}/input", json={"values": {"adults": 0, "children": "yes"}}
        )
        assert refused.status_code == 422
        assert {(e["field"], e["code"]) for e in refused.json()["errors"]} == {
            ("adults", "min"),
            ("children", "type"),
        }
        wrong = await http.post(f"/jobs/{job_id}/input", json={"form_id": "budget", "values": {}})
        assert wrong.status_code == 409 and wrong.json()["error"] == "WrongForm"
        ok = await http.post(
            f"/jobs/{job_id}/input", json={"values": {"adults": 1, "children": False}}
        )
        assert ok.status_code == 200 and ok.json()["request_id"] == "travellers-1"
        await wait_job(http, job_id, "awaiting_input")
        ok = await http.post(
            f"/jobs/{job_id}/input", json={"form_id": "budget", "values": {"level": "comfort"}}
        )
        assert ok.status_code == 200
        done = await wait_job(http, job_id, "completed")
        assert done["result"]["destination"] == "Quito"
        late = await http.post(f"/jobs/{job_id}/input", json={"values": {"level": "comfort"}})
        assert late.status_code in (404, 409) and late.json()["message"]


async def test_cancel_and_list(api: Api) -> None:
    job_id = await start(api, "alice", "batch-report", {"chunks": 50, "seconds_per_chunk": 0.5})
    async with api.client("alice") as http:
        await wait_job(http, job_id, "running")
        resp = await http.post(f"/jobs/{job_id}/cancel", json={"reason": "too slow"})
        assert resp.status_code == 202
        done = await wait_job(http, job_id, "cancelled")
        assert done["error"] == "too slow"
        assert (await http.post(f"/jobs/{job_id}/cancel")).status_code == 409

        for _ in range(3):
            await start(api, "alice", "trip-planner", {"destination": "Lima"})
        for _ in range(50):
            page = (
                await http.get("/jobs", params={"page_size": 2, "agent": "trip-planner"})
            ).json()
            if len(page["jobs"]) == 2 and page["next_page_token"]:
                break
            await asyncio.sleep(0.2)
        seen = [j["job_id"] for j in page["jobs"]]
        page2 = (
            await http.get(
                "/jobs",
                params={
                    "page_size": 2,
                    "agent": "trip-planner",
                    "page_token": page["next_page_token"],
                },
            )
        ).json()
        seen += [j["job_id"] for j in page2["jobs"]]
        assert len(seen) == len(set(seen)) >= 3
        assert (await http.get("/jobs", params={"status": "sleeping"})).status_code == 422
        assert (await http.get("/jobs", params={"page_token": "!!"})).status_code == 400


async def test_sse_live_and_resume(api: Api) -> None:
    job_id = await start(api, "alice", "batch-report", {"chunks": 5, "seconds_per_chunk": 0.3})
    async with api.client("alice") as http:
        first = await read_sse(http, job_id, stop_after=4)
        assert [e["id"] for e in first] == [1, 2, 3, 4]
        rest = await read_sse(http, job_id, headers={"Last-Event-ID": str(first[-1]["id"])})
        assert rest[-1]["event"] == "end"
        ids = [e["id"] for e in first + rest[:-1]]
        assert ids == list(range(1, len(ids) + 1))  # nothing lost, nothing twice
        kinds = [e["event"] for e in first + rest]
        assert kinds.count("progress") == 5 and "result" in kinds
        assert (
            await http.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "abc"})
        ).status_code == 400


async def test_oversized_body_is_413(sqlite_api: Api) -> None:
    async with sqlite_api.client("alice") as http:
        big = {
            "identifier_from_purchaser": "0123456789abcdef",
            "input_data": {"destination": "x" * 100_000},
        }
        resp = await http.post("/agents/trip-planner/start_job", json=big)
        assert resp.status_code == 413 and resp.json()["error"] == "payload_too_large"

        async def chunks():  # no Content-Length: counted while streaming
            for _ in range(100):
                yield b"x" * 1024

        resp = await http.post(
            "/jobs/x/input", content=chunks(), headers={"content-type": "application/json"}
        )
        assert resp.status_code == 413
