"""The escrow saga end to end: real Temporal with per-workflow time skipping, offline ledger."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from durasumi.activities.escrow.dev import DevEscrow, dev_escrow
from durasumi.activities.escrow.errors import ESCROW_UNAVAILABLE, EscrowError
from durasumi.activities.escrow.port import EscrowActivities, EscrowBackend
from durasumi.activities.escrow.script import Action
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import AgentRecord, Registry, describe
from durasumi.workers.devserver import temporal_binary
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows import search
from durasumi.workflows.escrow_models import (
    EscrowAction,
    EscrowState,
    EscrowStatus,
    EscrowTerms,
    PaymentRequest,
    PaymentRequestInput,
)
from durasumi.workflows.ids import child_workflow_id
from durasumi.workflows.models import CancelRequest, EventKind, JobStatus, JobView, PaymentPlan
from tests.escrow_agents import PaidEcho

PRICE = 20_000_000


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
        ],
        data_converter=pydantic_data_converter,
        search_attributes=search.ALL,
    )
    yield environment
    await environment.shutdown()


@dataclass
class Paid:
    client: Client
    env: WorkflowEnvironment
    dev: DevEscrow
    queue: str
    record: AgentRecord

    async def start(
        self, mode: str, *, platform_buyer: bool = True, poll_seconds: int = 3600
    ) -> jobs.StartedJob:
        terms = EscrowTerms(
            price_lovelace=PRICE, platform_buyer=platform_buyer, poll_seconds=poll_seconds
        )
        return await jobs.start_job(
            self.client,
            self.record,
            uuid.uuid4().hex[:16],
            {"text": "hello", "mode": mode},
            platform_task_queue=self.queue,
            buyer="tester",
            payment=PaymentPlan(mode="escrow", escrow=terms),
        )

    async def view(self, job_id: str) -> JobView:
        return await jobs.job_view(self.client, job_id)

    async def wait_for_status(self, job_id: str, status: JobStatus) -> None:
        for _ in range(600):
            try:
                if (await self.view(job_id)).status is status:
                    return
            except RPCError:  # a query may time out while script evaluation holds the GIL
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"{job_id} never reached {status}")

    def balanced(self) -> bool:
        ledger = self.dev.ledger
        return ledger.total_lovelace() + ledger.fees_paid() == ledger.funded()


async def paid_stack(
    env: WorkflowEnvironment, tmp_path: Path, backend: EscrowBackend | None = None
) -> tuple[Paid, list[Worker]]:
    dev = dev_escrow()
    prefix = f"e-{uuid.uuid4().hex[:8]}"
    registry = Registry(f"sqlite:///{tmp_path / 'durasumi.db'}")
    record = registry.upsert(describe(PaidEcho, task_queue=f"{prefix}-paid-echo", vendor="tests"))
    escrow = EscrowActivities(backend or dev.backend())
    workers = [
        platform_worker(env.client, f"{prefix}-platform", escrow=escrow),
        agent_worker(env.client, [PaidEcho], f"{prefix}-paid-echo"),
    ]
    return Paid(env.client, env, dev, f"{prefix}-platform", record), workers


@pytest.fixture
async def paid(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Paid]:
    stack, workers = await paid_stack(env, tmp_path)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield stack
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)


def actions(view: JobView) -> list[EscrowAction]:
    assert view.escrow is not None
    return [t.action for t in view.escrow.transactions]


async def test_happy_path_withdraws_after_unlock_with_the_fee(paid: Paid) -> None:
    started = await paid.start("ok")
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.WITHDRAWN
    assert view.escrow.result_hash == result.detail["result_hash"]
    assert actions(view) == [EscrowAction.LOCK, EscrowAction.SUBMIT_RESULT, EscrowAction.WITHDRAW]
    events = await jobs.job_events(paid.client, started.job_id)
    tx_events = [e for e in events if e.kind is EventKind.PAYMENT and e.data.get("tx_id")]
    assert [e.data["action"] for e in tx_events] == ["lock", "submit_result", "withdraw"]
    withdraw = next(t for t in view.escrow.transactions if t.action is EscrowAction.WITHDRAW)
    assert withdraw.at_ms is not None and withdraw.at_ms >= view.escrow.times.unlock_time
    assert paid.dev.ledger.balance(paid.dev.fee.address) >= PRICE * 50 // 1000
    assert paid.balanced()


async def test_agent_failure_refunds_the_buyer(paid: Paid) -> None:
    buyer_before = paid.dev.ledger.balance(paid.dev.buyer.address)
    started = await paid.start("fail")
    result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.REFUND_WITHDRAWN
    assert view.escrow.result_hash == ""
    assert actions(view) == [
        EscrowAction.LOCK,
        EscrowAction.REQUEST_REFUND,
        EscrowAction.WITHDRAW_REFUND,
    ]
    fees = sum(r.fee for r in paid.dev.ledger.transactions())
    assert paid.dev.ledger.balance(paid.dev.buyer.address) == buyer_before - fees
    assert paid.balanced()


async def test_cancel_refunds_the_buyer(paid: Paid) -> None:
    started = await paid.start("wait")
    for _ in range(200):
        if (await paid.view(started.job_id)).status is JobStatus.AWAITING_INPUT:
            break
        await asyncio.sleep(0.1)
    await jobs.cancel_job(paid.client, started.job_id, CancelRequest(reason="changed my mind"))
    result = await job_result(started.handle)
    assert result.status is JobStatus.CANCELLED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.REFUND_WITHDRAWN
    assert EscrowAction.SUBMIT_RESULT not in actions(view)
    assert paid.balanced()


async def test_missed_pay_by_time_never_runs_the_agent(paid: Paid) -> None:
    started = await paid.start("ok", platform_buyer=False)
    result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    assert result.error is not None and "payByTime" in result.error
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.NOT_LOCKED
    assert paid.dev.ledger.transactions() == []
    with pytest.raises(Exception, match="not found"):
        await paid.client.get_workflow_handle(child_workflow_id(started.job_id)).describe()


async def test_dispute_is_authorized_and_refunded(paid: Paid) -> None:
    with paid.env.with_time_skipping_disabled():  # type: ignore[attr-defined]
        started = await paid.start("ok", poll_seconds=1)
    view = await paid.view(started.job_id)
    for _ in range(300):
        view = await paid.view(started.job_id)
        if view.escrow is not None and view.escrow.state is EscrowState.RESULT_SUBMITTED:
            break
        await asyncio.sleep(0.1)
    assert view.escrow is not None and view.escrow.state is EscrowState.RESULT_SUBMITTED
    # The buyer disputes on chain, as an external wallet would (real time: no skip yet).
    buyer_side = paid.dev.backend()
    saga_request = await _request_of(paid, started.job_id)
    buyer_side.perform(EscrowAction.REQUEST_REFUND, saga_request, int(time.time() * 1000), None)
    for _ in range(100):
        view = await paid.view(started.job_id)
        if view.escrow is not None and EscrowAction.AUTHORIZE_REFUND in actions(view):
            break
        await asyncio.sleep(0.2)
    await paid.env.fast_forward(started.handle, None)
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.REFUND_WITHDRAWN
    assert actions(view) == [
        EscrowAction.LOCK,
        EscrowAction.SUBMIT_RESULT,
        EscrowAction.REQUEST_REFUND,
        EscrowAction.AUTHORIZE_REFUND,
        EscrowAction.WITHDRAW_REFUND,
    ]
    assert paid.balanced()


async def _request_of(paid: Paid, job_id: str) -> PaymentRequest:
    """The job's payment request, made again by the seller (it is deterministic)."""
    view = await paid.view(job_id)
    assert view.escrow is not None
    return paid.dev.backend().create_payment_request(
        PaymentRequestInput(
            job_id=job_id,
            agent="paid-echo",
            identifier_from_purchaser=view.identifier_from_purchaser,
            input_hash=view.input_hash,
            price_lovelace=PRICE,
            times=view.escrow.times,
        )
    )


class FlakyBackend:
    """Fails some reads, some actions before they happen and some right after (the crash
    between submitting a transaction and recording it): retries must never double-spend."""

    def __init__(self, inner: EscrowBackend, rng: random.Random, rate: float) -> None:
        self.inner, self.rng, self.rate = inner, rng, rate
        self.injected = 0

    @property
    def holds_buyer_wallet(self) -> bool:
        return self.inner.holds_buyer_wallet

    def _maybe_fail(self, where: str) -> None:
        if self.rng.random() < self.rate:
            self.injected += 1
            raise EscrowError(ESCROW_UNAVAILABLE, f"injected failure {where}", retryable=True)

    def create_payment_request(self, req: PaymentRequestInput) -> PaymentRequest:
        self._maybe_fail("creating the request")
        return self.inner.create_payment_request(req)

    def read(self, request: PaymentRequest) -> EscrowStatus:
        self._maybe_fail("reading")
        return self.inner.read(request)

    def perform(
        self, action: EscrowAction, request: PaymentRequest, at_ms: int, result_hash: str | None
    ) -> str:
        self._maybe_fail(f"before {action.value}")
        tx_id = self.inner.perform(action, request, at_ms, result_hash)
        self._maybe_fail(f"after {action.value} ({tx_id})")
        return tx_id


async def test_randomized_jobs_with_injected_failures_settle_exactly_once(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    rng = random.Random(5)
    dev = dev_escrow()
    flaky = FlakyBackend(dev.backend(), rng, rate=0.1)
    stack, workers = await paid_stack(env, tmp_path, flaky)
    stack.dev = dev
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        modes = [rng.choice(["ok", "ok", "fail", "wait", "unpaid"]) for _ in range(100)]
        started = []
        for mode in modes:
            unpaid = mode == "unpaid"
            job = await stack.start("ok" if unpaid else mode, platform_buyer=not unpaid)
            started.append((mode, job))
        for mode, job in started:
            if mode == "wait":
                await stack.wait_for_status(job.job_id, JobStatus.AWAITING_INPUT)
                await jobs.cancel_job(stack.client, job.job_id, CancelRequest(reason="random"))
        results = await asyncio.wait_for(
            asyncio.gather(*(job_result(job.handle) for _, job in started)), timeout=600
        )
        views = [await stack.view(job.job_id) for _, job in started]  # queries need the worker
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
    expected = {"ok": JobStatus.COMPLETED, "fail": JobStatus.FAILED, "wait": JobStatus.CANCELLED}
    locks = 0
    for (mode, _job), result, view in zip(started, results, views, strict=True):
        assert view.escrow is not None
        if mode == "unpaid":
            assert result.status is JobStatus.FAILED
            assert view.escrow.state is EscrowState.NOT_LOCKED
            continue
        assert result.status is expected[mode], (mode, result.error)
        locks += 1
        # exactly one of withdrawn or refunded, each step once
        assert view.escrow.state is (
            EscrowState.WITHDRAWN if mode == "ok" else EscrowState.REFUND_WITHDRAWN
        )
        done = actions(view)
        assert len(done) == len(set(done)), done
    ledger = dev.ledger
    spends = [r for r in ledger.transactions() if r.redeemers]
    finals = [
        r for r in spends if set(r.redeemers.values()) & {Action.WITHDRAW, Action.WITHDRAW_REFUND}
    ]
    assert len(finals) == locks
    assert ledger.balance(dev.script_address()) == 0
    assert ledger.total_lovelace() + ledger.fees_paid() == ledger.funded()
    assert flaky.injected > 0
