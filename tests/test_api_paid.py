"""Paid agents through MIP-003: the escrow's payment request answers start_job.

Real API (uvicorn), real workers on a time-skipping Temporal dev server, the offline
Cardano ledger. The API starts jobs without time skipping, like production; the test
fast-forwards a job's clock only where it would otherwise wait minutes or hours.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from durasumi.activities.escrow.dev import DevEscrow, dev_escrow
from durasumi.activities.escrow.masumi_format import decode_identifier
from durasumi.activities.escrow.port import EscrowActivities
from durasumi.api.routes import mip003
from durasumi.cli.escrow import _payment_request
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import Registry, describe
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.escrow_models import EscrowAction, EscrowState
from durasumi.workflows.ids import dev_agent_identifier
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import CancelRequest, EventKind, JobStatus
from tests.api_fixtures import Api, serve_api
from tests.conftest import Stack
from tests.escrow_agents import PaidEcho
from tests.test_escrow_saga import env  # noqa: F401  (the time-skipping server fixture)

PRICE = 25_000_000
HOUR_MS = 3_600_000


@dataclass
class PaidApi:
    api: Api
    dev: DevEscrow
    client: Client  # starts nothing with time skipping: the API's own client
    env: WorkflowEnvironment

    async def start_job(self, who: str = "alice", **input_data: Any) -> httpx.Response:
        body = {
            "identifier_from_purchaser": uuid.uuid4().hex[:16],
            "input_data": {"text": "hello", "mode": "ok", **input_data},
        }
        async with self.api.client(who) as http:
            return await http.post("/agents/paid-echo/start_job", json=body)

    async def status(self, job_id: str, who: str = "alice") -> dict[str, Any]:
        async with self.api.client(who) as http:
            resp = await http.get("/agents/paid-echo/status", params={"job_id": job_id})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def balanced(self) -> bool:
        ledger = self.dev.ledger
        return ledger.total_lovelace() + ledger.fees_paid() == ledger.funded()


async def serve_paid_echo(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
    price: Callable[[DevEscrow], dict[str, Any]],
) -> AsyncIterator[PaidApi]:
    """The paid-echo agent behind the facade on the time-skipping server, priced by ``price``."""
    config = env.client.service_client.config
    client = await Client.connect(config.target_host, data_converter=pydantic_data_converter)
    prefix = f"p-{uuid.uuid4().hex[:8]}"
    stack = Stack(client, config.target_host, tmp_path, f"{prefix}-platform", prefix)
    dev = dev_escrow(tmp_path / "escrow")
    record = describe(PaidEcho, task_queue=stack.queue(PaidEcho.name), vendor="tests")
    stack.records[PaidEcho.name] = record.model_copy(update=price(dev))
    workers = [
        platform_worker(client, stack.platform_queue, escrow=EscrowActivities(dev.backend())),
        agent_worker(client, [PaidEcho], stack.queue(PaidEcho.name)),
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        db = f"sqlite:///{tmp_path / 'api.db'}"
        async for api in serve_api(stack, db, tmp_path, escrow_backend="offline"):
            yield PaidApi(api, dev, client, env)
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def paid_api(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[PaidApi]:  # noqa: F811
    async for paid in serve_paid_echo(env, tmp_path, lambda _: {"price_lovelace": PRICE}):
        yield paid


async def test_paid_job_waits_for_payment_then_runs_and_settles(paid_api: PaidApi) -> None:
    before = int(time.time() * 1000)
    resp = await paid_api.start_job()
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    job_id = answer["job_id"]
    # the escrow's payment request, signed by the seller wallet: not the free- placeholder
    bid = answer["blockchainIdentifier"]
    decoded = decode_identifier(bid)  # Masumi's format (tests/test_masumi_format.py)
    assert decoded is not None and decoded.purchaser_id == answer["identifierFromPurchaser"]
    assert answer["sellerVKey"] == paid_api.dev.seller.key_hash.payload.hex()
    assert answer["agentIdentifier"] == dev_agent_identifier("paid-echo")  # dev: made up
    assert decoded.agent_identifier == answer["agentIdentifier"]
    submit = answer["submitResultTime"]
    assert before + 10 * 60_000 <= answer["payByTime"] <= submit - 5 * 60_000
    assert before + 60 * 60_000 <= submit <= int(time.time() * 1000) + 60 * 60_000
    assert answer["unlockTime"] == submit + 6 * HOUR_MS
    assert answer["externalDisputeUnlockTime"] == submit + 12 * HOUR_MS

    # start_job is idempotent: the same request answers the same escrow
    async with paid_api.api.client("alice") as http:
        again = await http.post(
            "/agents/paid-echo/start_job",
            json={
                "identifier_from_purchaser": answer["identifierFromPurchaser"],
                "input_data": {"text": "hello", "mode": "ok"},
            },
        )
    assert again.status_code == 200, again.text
    assert again.json() == answer

    # nobody paid: the agent does not run
    assert (await paid_api.status(job_id))["status"] == "awaiting_payment"
    view = await jobs.job_view(paid_api.client, job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.NOT_LOCKED
    assert view.escrow.blockchain_identifier == bid
    await asyncio.sleep(1)
    assert (await paid_api.status(job_id))["status"] == "awaiting_payment"

    # the dev buyer locks the price (what `durasumi pay JOB` does)
    locked = paid_api.dev.pay(_payment_request(view, view.escrow), int(time.time() * 1000))
    assert locked.state is EscrowState.FUNDS_LOCKED and not locked.already_done
    assert paid_api.dev.pay(
        _payment_request(view, view.escrow), int(time.time() * 1000)
    ).already_done

    # the saga sees it at its next chain read, runs the agent, submits the result hash and
    # withdraws after unlockTime: durable timers all, skipped here rather than waited for
    handle = jobs.job_handle(paid_api.client, job_id)
    # Two hours on, the result is in and the escrow waits for unlockTime: the job reads as
    # completed and settling in the Web UI (its current details), while its workflow runs.
    await paid_api.env.fast_forward(handle, timedelta(hours=2))
    details = ""
    for _ in range(300):
        meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = meta.current_details
        if "ResultSubmitted" in details:
            break
        await asyncio.sleep(0.1)
    assert details.startswith("**completed** (paid-echo)\n\nsettling the escrow: ResultSubmitted")
    assert "withdraws after unlockTime" in details
    await paid_api.env.fast_forward(handle, None)
    result = await job_result(handle)
    assert result.status is JobStatus.COMPLETED
    status = await paid_api.status(job_id)
    assert status["status"] == "completed" and status["result"] == "echo: hello"
    view = await jobs.job_view(paid_api.client, job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.WITHDRAWN
    actions = [t.action for t in view.escrow.transactions]
    assert actions == [EscrowAction.LOCK, EscrowAction.SUBMIT_RESULT, EscrowAction.WITHDRAW]
    withdraw = view.escrow.transactions[-1]
    assert withdraw.at_ms is not None and withdraw.at_ms >= answer["unlockTime"]

    # the job went awaiting_payment -> running -> completed, in that order
    events = await jobs.job_events(paid_api.client, job_id)
    statuses = [e.data["status"] for e in events if e.kind is EventKind.STATUS and e.data]
    assert statuses == ["awaiting_payment", "running", "completed"]

    # the money: the buyer paid the price plus its lock fee, the fee address got 5 %
    ledger, dev = paid_api.dev.ledger, paid_api.dev
    assert ledger.balance(dev.fee.address) >= PRICE * 50 // 1000
    assert ledger.balance(dev.script_address()) == 0
    assert paid_api.balanced()


def temporal_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the client calls a start_job could make (the API runs in this process)."""
    calls: list[str] = []
    for cls, name in (
        (Client, "start_workflow"),
        (Client, "execute_update_with_start_workflow"),
        (Client, "start_update_with_start_workflow"),
        (WorkflowHandle, "query"),
        (WorkflowHandle, "describe"),
        (WorkflowHandle, "execute_update"),
    ):
        original = getattr(cls, name)

        async def spy(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            calls.append(_name)
            return await _original(*args, **kw)

        monkeypatch.setattr(cls, name, spy)
    history = WorkflowHandle.fetch_history_events

    def history_spy(*args: Any, **kw: Any) -> Any:
        calls.append("fetch_history_events")
        return history(*args, **kw)

    monkeypatch.setattr(WorkflowHandle, "fetch_history_events", history_spy)
    return calls


async def payment_updates(paid_api: PaidApi, job_id: str) -> list[int]:
    """The event ids of the job's accepted ``payment_request`` updates."""
    history = await jobs.job_handle(paid_api.client, job_id).fetch_history()
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return [
        e.event_id
        for e in history.events
        if e.event_type == accepted
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == JobWorkflow.payment_request.__name__
    ]


async def test_paid_start_job_is_one_update_with_start(
    paid_api: PaidApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {
        "identifier_from_purchaser": uuid.uuid4().hex[:16],
        "input_data": {"text": "once", "mode": "ok"},
    }
    calls = temporal_calls(monkeypatch)
    async with paid_api.api.client("alice") as http:
        resp = await http.post("/agents/paid-echo/start_job", json=body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    # one Temporal call, the payment request its answer: no start then poll
    assert calls == ["execute_update_with_start_workflow"]
    job_id = answer["job_id"]
    first = await payment_updates(paid_api, job_id)
    assert len(first) == 1
    view = await jobs.job_view(paid_api.client, job_id)
    assert view.escrow is not None
    assert answer["blockchainIdentifier"] == view.escrow.blockchain_identifier

    # the same request again: the same job (never a second run), the same terms
    calls.clear()
    async with paid_api.api.client("alice") as http:
        again = await http.post("/agents/paid-echo/start_job", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == answer
    assert calls == ["execute_update_with_start_workflow"]
    assert len(await payment_updates(paid_api, job_id)) == 2
    history = await jobs.job_handle(paid_api.client, job_id).fetch_history()
    started = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert sum(1 for e in history.events if e.event_type == started) == 1

    # closed, the id cannot be started again (REJECT_DUPLICATE): the terms come from a query
    handle = jobs.job_handle(paid_api.client, job_id)
    await handle.signal(JobWorkflow.cancel, CancelRequest(reason="test"))
    assert (await job_result(handle)).status is JobStatus.CANCELLED
    calls.clear()
    async with paid_api.api.client("alice") as http:
        closed = await http.post("/agents/paid-echo/start_job", json=body)
    assert closed.status_code == 200, closed.text
    assert calls == ["execute_update_with_start_workflow", "query"]
    same = {k: v for k, v in answer.items() if k != "id"}
    assert {k: v for k, v in closed.json().items() if k != "id"} == same
    assert closed.json()["id"] != answer["id"]  # the status id moved on: the job failed
    assert (await paid_api.status(job_id))["status"] == "failed"
    assert (await handle.describe()).run_id == history.run_id


async def test_a_second_buyer_gets_a_second_escrow(paid_api: PaidApi) -> None:
    body = {
        "identifier_from_purchaser": "00aa00aa00aa00aa",
        "input_data": {"text": "x", "mode": "ok"},
    }
    answers = []
    for who in ("alice", "bob"):
        async with paid_api.api.client(who) as http:
            resp = await http.post("/agents/paid-echo/start_job", json=body)
        assert resp.status_code == 200, resp.text
        answers.append(resp.json())
    assert answers[0]["job_id"] != answers[1]["job_id"]
    assert answers[0]["blockchainIdentifier"] != answers[1]["blockchainIdentifier"]
    async with paid_api.api.client("bob") as http:
        theirs = await http.get("/agents/paid-echo/status", params={"job_id": answers[0]["job_id"]})
    assert theirs.status_code == 404


async def test_free_agents_stay_free_next_to_paid_ones(paid_api: PaidApi) -> None:
    record = paid_api.api.stack.records[PaidEcho.name]
    free = record.model_copy(update={"name": "free-echo", "price_lovelace": 0})
    Registry(paid_api.api.settings.db_url).upsert(free)
    async with paid_api.api.client("alice") as http:
        resp = await http.post(
            "/agents/free-echo/start_job",
            json={
                "identifier_from_purchaser": "00bb00bb00bb00bb",
                "input_data": {"text": "x", "mode": "ok"},
            },
        )
    assert resp.status_code == 200, resp.text
    assert resp.json()["blockchainIdentifier"].startswith("free-")
    # no worker serves a free-echo agent: stop the job rather than leave it retrying
    await jobs.job_handle(paid_api.client, resp.json()["job_id"]).terminate("test over")


async def test_paid_agent_without_escrow_is_refused_clearly(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = env.client.service_client.config
    client = await Client.connect(config.target_host, data_converter=pydantic_data_converter)
    prefix = f"q-{uuid.uuid4().hex[:8]}"
    stack = Stack(client, config.target_host, tmp_path, f"{prefix}-platform", prefix)
    record = describe(PaidEcho, task_queue=stack.queue(PaidEcho.name), vendor="tests")
    stack.records[PaidEcho.name] = record.model_copy(update={"price_lovelace": PRICE})
    async for api in serve_api(stack, f"sqlite:///{tmp_path / 'api.db'}", tmp_path):
        async with api.client("alice") as http:
            resp = await http.post(
                "/agents/paid-echo/start_job",
                json={
                    "identifier_from_purchaser": "00cc00cc00cc00cc",
                    "input_data": {"text": "x", "mode": "ok"},
                },
            )
        assert resp.status_code == 503
        assert "DURASUMI_ESCROW_BACKEND" in resp.json()["message"]
        assert f"{PRICE} lovelace" in resp.json()["message"]


async def test_paid_start_without_a_platform_worker_asks_to_retry_the_same_job(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mip003, "PAYMENT_REQUEST_WAIT", timedelta(seconds=2))
    config = env.client.service_client.config
    client = await Client.connect(config.target_host, data_converter=pydantic_data_converter)
    prefix = f"r-{uuid.uuid4().hex[:8]}"
    stack = Stack(client, config.target_host, tmp_path, f"{prefix}-platform", prefix)
    record = describe(PaidEcho, task_queue=stack.queue(PaidEcho.name), vendor="tests")
    stack.records[PaidEcho.name] = record.model_copy(update={"price_lovelace": PRICE})
    body = {
        "identifier_from_purchaser": "00dd00dd00dd00dd",
        "input_data": {"text": "x", "mode": "ok"},
    }
    db = f"sqlite:///{tmp_path / 'api.db'}"
    async for api in serve_api(stack, db, tmp_path, escrow_backend="offline"):
        # nobody serves the platform queue: the job starts, its payment request cannot come
        async with api.client("alice") as http:
            resp = await http.post("/agents/paid-echo/start_job", json=body)
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"] == "5"
        named = re.search(r"job-paid-echo-[0-9a-f]+", resp.json()["message"])
        assert named is not None, resp.text
        job_id = named.group()
        handle = jobs.job_handle(client, job_id)
        first_run = (await handle.describe()).run_id

        # a platform worker comes up: the same start_job finds the same job and its request
        dev = dev_escrow(tmp_path / "escrow")
        worker = platform_worker(
            client, stack.platform_queue, escrow=EscrowActivities(dev.backend())
        )
        async with worker:
            async with api.client("alice") as http:
                resp = await http.post("/agents/paid-echo/start_job", json=body)
            assert resp.status_code == 200, resp.text
            assert resp.json()["job_id"] == job_id
            assert (await handle.describe()).run_id == first_run
            await handle.terminate("test over")
