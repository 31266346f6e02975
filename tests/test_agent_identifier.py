"""An agent's Masumi registry identifier: set through POST /agents, required to sell outside dev."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api_fixtures import Api, serve_api
from tests.conftest import Stack

IDENTIFIER = "7e" * 28 + "747269702d706c616e6e6572"  # policy id + "trip-planner"


@pytest.fixture
async def chain_api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    """The facade of a platform that escrows on a real chain (no dev identifiers)."""
    async for api in serve_api(
        stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path, escrow_backend="blockfrost"
    ):
        yield api


async def test_a_paid_agent_needs_its_registry_identifier(chain_api: Api) -> None:
    async with chain_api.client("operator") as ops:
        paid = await ops.post("/agents", json={"name": "trip-planner", "price_lovelace": 5_000_000})
        assert paid.status_code == 201, paid.text
        assert paid.json()["agent_identifier"] is None
    async with chain_api.client("alice") as http:
        refused = await http.post(
            "/agents/trip-planner/start_job",
            json={"identifier_from_purchaser": "00aa11bb22cc33dd", "input_data": {}},
        )
    assert refused.status_code == 409
    assert "no Masumi agent identifier" in refused.json()["message"]
    async with chain_api.client("operator") as ops:
        for bad in ("xyz" * 20, "ab" * 20, "abc" * 29):  # not hex, too short, odd length
            resp = await ops.post("/agents", json={"name": "trip-planner", "agent_identifier": bad})
            assert resp.status_code == 422, bad
        ok = await ops.post(
            "/agents", json={"name": "trip-planner", "agent_identifier": IDENTIFIER}
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["agent_identifier"] == IDENTIFIER
        shown = (await ops.get("/agents/trip-planner")).json()
    assert shown["agent_identifier"] == IDENTIFIER and shown["price_lovelace"] == 5_000_000
    async with chain_api.client("alice") as http:
        odd = await http.post(
            "/agents/trip-planner/start_job",
            json={"identifier_from_purchaser": "00aa11bb22cc33d", "input_data": {}},
        )
    assert odd.status_code == 400 and "even number of hex" in odd.json()["message"]
