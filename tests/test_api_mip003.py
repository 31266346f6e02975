"""MIP-003 per agent: conformance of every endpoint and a whole paid-for-free lifecycle."""

from __future__ import annotations

import asyncio
import secrets
import time

from durasumi.db.signing import verify
from durasumi.workflows.ids import ResultHashRule, canonical_json, input_hash, result_hash
from tests.api_fixtures import Api

STATUSES = {"awaiting_payment", "awaiting_input", "running", "completed", "failed"}
START_FIELDS = {
    "id": str, "status": str, "job_id": str, "blockchainIdentifier": str, "payByTime": int,
    "submitResultTime": int, "unlockTime": int, "externalDisputeUnlockTime": int,
    "agentIdentifier": str, "sellerVKey": str, "identifierFromPurchaser": str, "input_hash": str,
}  # fmt: skip


async def wait_status(api: Api, agent: str, job_id: str, wanted: str) -> dict:
    async with api.client("alice") as http:
        for _ in range(150):
            body = (await http.get(f"/agents/{agent}/status", params={"job_id": job_id})).json()
            if body["status"] == wanted:
                return body
            await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {wanted}: {body}")


def test_mip004_hashes_golden_values() -> None:
    # Golden values computed independently with `printf '%s' '<id>;<json>' | sha256sum`.
    assert input_hash("abcdef0123456789", {"destination": "Lisbon"}) == (
        "1b9b891e93139593dbb7b753db3cc230d80dde056c06d07279840b89bf864b04"
    )
    # Sorted keys, no whitespace, UTF-8 unescaped.
    assert input_hash("abcdef0123456789", {"n": [1, 2], "city": "Zürich"}) == (
        "b38fbdb6b1edcd86d2ce733fa97dfde8af9580d74f91d853bc078b73c16d61e5"
    )
    # Result hash, rule raw: the output string as is (newlines and quotes not JSON-escaped).
    assert result_hash("abcdef0123456789", 'line1\nline "2"', ResultHashRule.RAW) == (
        "736ee31fb21761b0ba07ace6eed698fb93651f561edd41c5d4e1b1f0645fb59f"
    )
    assert canonical_json({"b": 1, "a": "é", "c": [1, {"z": 0, "y": None}]}) == (
        '{"a":"é","b":1,"c":[1,{"y":null,"z":0}]}'
    )


async def test_trip_planner_over_mip003(api: Api) -> None:
    before = int(time.time() * 1000)
    ident = secrets.token_hex(8)
    async with api.client("alice") as http:
        resp = await http.post(
            "/agents/trip-planner/start_job",
            json={"identifier_from_purchaser": ident, "input_data": {"destination": "Lisbon"}},
        )
        assert resp.status_code == 200, resp.text
        start = resp.json()
        assert set(start) == set(START_FIELDS)
        assert all(isinstance(start[k], t) for k, t in START_FIELDS.items())
        assert start["status"] == "success" and start["identifierFromPurchaser"] == ident
        assert start["input_hash"] == input_hash(ident, {"destination": "Lisbon"})
        assert before <= start["payByTime"] <= start["submitResultTime"] - 5 * 60_000
        assert start["submitResultTime"] >= before + 15 * 60_000
        assert start["unlockTime"] >= start["submitResultTime"] + 15 * 60_000
        assert start["externalDisputeUnlockTime"] >= start["unlockTime"] + 15 * 60_000
        job_id = start["job_id"]

        again = await http.post(
            "/agents/trip-planner/start_job",
            json={"identifier_from_purchaser": ident, "input_data": {"destination": "Lisbon"}},
        )
        assert again.json()["job_id"] == job_id  # idempotent
        assert again.json()["submitResultTime"] == start["submitResultTime"]

        status = await wait_status(api, "trip-planner", job_id, "awaiting_input")
        assert set(status) == {"id", "job_id", "status", "input_schema"}
        assert status["status"] in STATUSES
        fields = status["input_schema"]["input_data"]
        assert [f["id"] for f in fields] == ["adults", "children", "children_ages"]
        assert fields[0]["validations"] == [
            {"validation": "min", "value": "1"},
            {"validation": "max", "value": "9"},
        ]

        refused = await http.post(
            "/agents/trip-planner/provide_input",
            json={"job_id": job_id, "status_id": status["id"], "input_data": {"adults": "x"}},
        )
        assert refused.status_code == 400
        assert {e["field"] for e in refused.json()["errors"]} == {"adults", "children"}

        stale = await http.post(
            "/agents/trip-planner/provide_input",
            json={"job_id": job_id, "status_id": "not-the-status", "input_data": {}},
        )
        assert stale.status_code == 409

        values = {"adults": 2, "children": False}
        ok = await http.post(
            "/agents/trip-planner/provide_input",
            json={"job_id": job_id, "status_id": status["id"], "input_data": values},
        )
        assert ok.status_code == 200, ok.text
        receipt = ok.json()
        assert receipt["status"] == "success"
        assert receipt["input_hash"] == input_hash(ident, values)
        signed = canonical_json({"input_hash": receipt["input_hash"], "status": "success"}).encode()
        assert verify(start["sellerVKey"], signed, receipt["signature"])
        assert not verify(start["sellerVKey"], b"something else", receipt["signature"])

        second = await wait_status(api, "trip-planner", job_id, "awaiting_input")
        assert second["id"] != status["id"]
        schema_hash = await _schema_hash(second["input_schema"])
        ok = await http.post(
            "/agents/trip-planner/provide_input",
            json={
                "job_id": job_id,
                "input_schema_hash": schema_hash,
                "input_groups": {"g": {"level": "comfort"}},
            },
        )
        assert ok.status_code == 200, ok.text

        done = await wait_status(api, "trip-planner", job_id, "completed")
        assert set(done) == {"id", "job_id", "status", "result"}
        assert isinstance(done["result"], str) and "Lisbon" in done["result"]


async def _schema_hash(schema: dict) -> str:
    import hashlib

    return hashlib.sha256(canonical_json(schema).encode()).hexdigest()


async def test_bad_start_requests(api: Api) -> None:
    async with api.client("alice") as http:
        for ident in ("short", "g" * 16, "a" * 27, ""):
            resp = await http.post(
                "/agents/trip-planner/start_job",
                json={"identifier_from_purchaser": ident, "input_data": {}},
            )
            assert resp.status_code == 400
            assert "14 to 26 hexadecimal" in resp.json()["message"]
        resp = await http.post(
            "/agents/trip-planner/start_job",
            json={
                "identifier_from_purchaser": "0123456789abcdef",
                "input_data": {"destination": "X", "x": 1},
            },
        )
        assert resp.status_code == 400
        assert {(e["field"], e["code"]) for e in resp.json()["errors"]} == {
            ("destination", "min"),
            ("x", "unknown"),
        }
        resp = await http.post("/agents/trip-planner/start_job", json={"input_data": {}})
        assert (
            resp.status_code == 400
            and resp.json()["errors"][0]["field"] == "identifier_from_purchaser"
        )
        resp = await http.post(
            "/agents/trip-planner/start_job",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert resp.status_code == 400
        resp = await http.post(
            "/agents/nobody/start_job",
            json={"identifier_from_purchaser": "0123456789abcdef", "input_data": {}},
        )
        assert resp.status_code == 404
        resp = await http.get(
            "/agents/trip-planner/status", params={"job_id": "job-trip-planner-nope"}
        )
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"


async def test_public_endpoints(api: Api) -> None:
    async with api.client() as http:
        for _ in range(50):  # a worker that just started shows up at its first poll
            avail = await http.get("/agents/trip-planner/availability")
            if avail.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert avail.status_code == 200
        assert avail.json()["type"] == "masumi-agent" and avail.json()["status"] == "available"
        schema = (await http.get("/agents/trip-planner/input_schema")).json()
        assert list(schema) == ["input_data"]
        assert schema["input_data"][0]["id"] == "destination"
        assert (await http.get("/agents/trip-planner/demo")).status_code == 404
        assert (await http.get("/agents/nobody/availability")).status_code == 404
        assert (
            await http.get("/agents/trip-planner/status", params={"job_id": "x"})
        ).status_code == 401

    # An agent no worker serves is unavailable (and not a 2xx, so the registry marks it offline).
    async with api.client("vendor") as http:
        resp = await http.post(
            "/agents",
            json={
                "name": "ghost",  # on the queue the platform gives it, which nobody polls
                "example": {"input": {}, "output": {"result": "boo"}},
            },
        )
        assert resp.status_code == 201, resp.text
    async with api.client() as http:
        ghost = await http.get("/agents/ghost/availability")
        assert ghost.status_code == 503 and ghost.json()["status"] == "unavailable"
        assert (await http.get("/agents/ghost/demo")).json() == {
            "input": {},
            "output": {"result": "boo"},
        }
