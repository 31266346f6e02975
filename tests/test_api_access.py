"""The access matrix: each role against each route, and someone else's job."""

from __future__ import annotations

import asyncio
import secrets

from tests.api_fixtures import Api
from tests.test_api_jobs import start, wait_job


async def test_access_matrix(sqlite_api: Api) -> None:
    api = sqlite_api
    alices = await start(api, "alice", "trip-planner", {"destination": "Cusco"})
    async with api.client("alice") as http:
        await wait_job(http, alices, "awaiting_input")

    routes = [
        ("GET", f"/jobs/{alices}", None),
        ("GET", f"/agents/trip-planner/status?job_id={alices}", None),
        ("POST", f"/jobs/{alices}/input", {"values": {"adults": 1, "children": False}}),
    ]
    expected = {
        "alice": 200,
        "bob": 404,
        "vendor": 200,
        "other-vendor": 404,
        "operator": 200,
        None: 401,
    }
    for who, code in expected.items():
        async with api.client(who) as http:
            for method, path, _ in routes[:2]:
                resp = await http.request(method, path)
                assert resp.status_code == code, (who, path, resp.text)
            # Answering someone else's job fails like reading it (allowed roles answer below).
            method, path, body = routes[2]
            if code != 200:
                resp = await http.request(method, path, json=body)
                assert resp.status_code == code, (who, path, resp.text)
    async with api.client("vendor") as http:  # the agent's vendor may answer for the buyer
        method, path, body = routes[2]
        assert (await http.request(method, path, json=body)).status_code == 200

    # Listing is scoped: bob sees none of alice's jobs, the vendor sees its agents' jobs.
    async with api.client("bob") as http:
        assert alices not in [j["job_id"] for j in (await http.get("/jobs")).json()["jobs"]]
        rows = (await http.get("/jobs", params={"buyer": "alice"})).json()["jobs"]
        assert all(j["buyer"] == "bob" for j in rows)  # the buyer filter is forced to the caller
        assert (await http.post(f"/jobs/{alices}/cancel")).status_code == 404
    async with api.client("vendor") as http:
        for _ in range(50):  # visibility is eventually consistent
            if alices in [j["job_id"] for j in (await http.get("/jobs")).json()["jobs"]]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the vendor does not see its agent's job")
    async with api.client("other-vendor") as http:
        assert all(j["job_id"] != alices for j in (await http.get("/jobs")).json()["jobs"])

    # Starting jobs: buyers and operators; vendors may not buy.
    body = {
        "identifier_from_purchaser": secrets.token_hex(8),
        "input_data": {"destination": "Paris"},
    }
    for who, code in {"vendor": 403, None: 401, "operator": 200, "bob": 200}.items():
        async with api.client(who) as http:
            assert (
                await http.post("/agents/trip-planner/start_job", json=body)
            ).status_code == code, who

    # Registering agents: vendors (their own) and operators; buyers may not.
    agent = {"name": "tool", "description": "x"}
    async with api.client("alice") as http:
        assert (await http.post("/agents", json=agent)).status_code == 403
    async with api.client("vendor") as http:
        assert (await http.post("/agents", json=agent)).status_code == 201
        bad = await http.post("/agents", json={"name": "Bad Name"})
        assert bad.status_code == 422
        bad = await http.post(
            "/agents", json={"name": "formless", "input_form": {"id": "f", "fields": "nope"}}
        )
        assert bad.status_code == 422
    async with api.client("other-vendor") as http:
        assert (await http.post("/agents", json=agent)).status_code == 403
        assert (await http.get("/agents/tool")).json()["vendor"] == "tests"
    async with api.client("operator") as http:
        resp = await http.post("/agents", json={**agent, "description": "by ops"})
        assert resp.status_code == 201 and resp.json()["vendor"] == "tests"
    async with api.client("alice") as http:
        agents = {a["name"]: a for a in (await http.get("/agents")).json()}
        assert agents["trip-planner"]["available"] is True

    # Bad keys.
    async with api.client() as http:
        for header in (
            {"X-API-Key": "dsk_nope_nope"},
            {"Authorization": "Bearer garbage"},
            {"X-API-Key": ""},
        ):
            assert (await http.get("/jobs", headers=header)).status_code == 401
        assert (
            await http.get("/jobs", headers={"Authorization": f"Bearer {api.keys['alice']}"})
        ).status_code == 200
