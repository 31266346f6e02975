"""A job records every provide_input hash in order, and the revision's chain hashes them."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durasumi.client import jobs
from tests.api_fixtures import Api, serve_api
from tests.conftest import Stack

AGENT = "trip-planner"


@pytest.fixture
async def chained_api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    """The facade with the open MIP-004 revision's rule for the trip planner."""
    async for api in serve_api(
        stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path, result_hash_rules=f"{AGENT}:chained"
    ):
        yield api


async def _status(http, job_id: str, wanted: str, after: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(150):
        body = (await http.get(f"/agents/{AGENT}/status", params={"job_id": job_id})).json()
        if body["status"] == wanted and body["id"] != after:
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {wanted}: {body}")


async def test_input_hashes_are_recorded_and_chained(chained_api: Api) -> None:
    ident = secrets.token_hex(8)
    async with chained_api.client("alice") as http:
        start = (
            await http.post(
                f"/agents/{AGENT}/start_job",
                json={"identifier_from_purchaser": ident, "input_data": {"destination": "Oslo"}},
            )
        ).json()
        job_id = start["job_id"]
        first = await _status(http, job_id, "awaiting_input")
        one = await http.post(
            f"/agents/{AGENT}/provide_input",
            json={
                "job_id": job_id,
                "status_id": first["id"],
                "input_data": {"adults": 2, "children": False},
            },
        )
        assert one.status_code == 200, one.text
        second = await _status(http, job_id, "awaiting_input", after=first["id"])
        two = await http.post(
            f"/agents/{AGENT}/provide_input",
            json={
                "job_id": job_id,
                "status_id": second["id"],
                "input_groups": {"g": {"level": "comfort"}},
            },
        )
        assert two.status_code == 200, two.text
        done = await _status(http, job_id, "completed")

    h1, h2 = one.json()["input_hash"], two.json()["input_hash"]
    assert h1 != h2
    view = await jobs.job_view(chained_api.stack.client, job_id)
    assert view.input_hashes == [h1, h2]
    outcome = await jobs.job_result(jobs.job_handle(chained_api.stack.client, job_id))
    preimage = ";".join([start["input_hash"], h1, h2, ident, done["result"]])
    assert outcome.detail["result_hash"] == hashlib.sha256(preimage.encode()).hexdigest()
