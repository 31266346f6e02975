"""Exactly once under kill -9: the platform worker dies right after the chain took each step.

The real `durasumi worker --platform` runs as a separate process on the offline ledger
(DURASUMI_ESCROW_BACKEND=offline, the ledger file under DURASUMI_HOME shared with this test).
The ledger makes a block every second and the worker waits for 4 confirmations before an
escrow step's activity completes (a real feature: settled means confirmed), so every step
has a window of about three seconds between "the ledger accepted the transaction" and
"Temporal recorded the activity". The test watches the ledger file and sends SIGKILL the
moment the step's transaction appears, checks in the job's history that the activity had not
completed, and starts a new worker: the retry (after the step's heartbeat timeout) must find
the transaction on chain instead of sending another. Lock, SubmitResult and Withdraw each
get killed once; at the end the ledger holds exactly one transaction per step and the
balances add up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from durasumi.activities.escrow.dev import BUYER_FUNDS, SELLER_FUNDS, DevEscrow, dev_escrow
from durasumi.activities.escrow.offline.ledger import TxRecord
from durasumi.activities.escrow.script import Action
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import describe
from durasumi.workers.run import agent_worker
from durasumi.workflows.escrow_models import EscrowAction, EscrowState, EscrowTerms
from durasumi.workflows.models import EventKind, JobStatus, PaymentPlan
from tests.conftest import ROOT
from tests.escrow_agents import PaidEcho
from tests.test_escrow_saga import env  # noqa: F401  (the time-skipping server fixture)

PRICE = 30_000_000
CONFIRMATIONS = 4  # at one block a second: ~3 s between acceptance and the activity's end


@dataclass
class Crashes:
    """Platform worker processes, started and killed by the test."""

    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "durasumi.cli.main", "worker", "--platform"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
async def crashes(
    env: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[tuple[Crashes, Client, DevEscrow, str]]:
    address = env.client.service_client.config.target_host
    # jobs start without time skipping (the kills need real time); fast-forwarded later
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    prefix = f"k-{uuid.uuid4().hex[:8]}"
    platform_queue = f"{prefix}-platform"
    dev = dev_escrow(tmp_path / "escrow")  # the deployment the worker processes load
    worker_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DURASUMI_TEMPORAL_ADDRESS": address,
        "DURASUMI_HOME": str(tmp_path),
        "DURASUMI_PLATFORM_TASK_QUEUE": platform_queue,
        "DURASUMI_ESCROW_BACKEND": "offline",
        "DURASUMI_ESCROW_OFFLINE_BLOCK_SECONDS": "1",
        "DURASUMI_ESCROW_MIN_CONFIRMATIONS": str(CONFIRMATIONS),
    }
    procs = Crashes(worker_env, tmp_path)
    agents = agent_worker(client, [PaidEcho], f"{prefix}-paid-echo")
    task = asyncio.create_task(agents.run())
    try:
        yield procs, client, dev, prefix
    finally:
        procs.stop_all()
        await agents.shutdown()
        await asyncio.gather(task, return_exceptions=True)


async def _appears(
    dev: DevEscrow, known: int, wanted: Callable[[TxRecord], bool], timeout: float = 120
) -> TxRecord:
    """The first transaction after the first ``known`` that ``wanted`` accepts."""
    for _ in range(int(timeout / 0.02)):
        for record in dev.ledger.transactions()[known:]:
            if wanted(record):
                return record
        await asyncio.sleep(0.02)
    raise AssertionError("the transaction never appeared")


def _redeemer(action: int) -> Callable[[TxRecord], bool]:
    return lambda r: action in r.redeemers.values()


def _lock(r: TxRecord) -> bool:
    return not r.redeemers


async def _activity_outcomes(client: Client, job_id: str, activity: str) -> tuple[int, int]:
    """(attempts started, completions) of the job's activity of type ``activity``."""
    scheduled: set[int] = set()
    started = completed = 0
    async for e in jobs.job_handle(client, job_id).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if e.activity_task_scheduled_event_attributes.activity_type.name == activity:
                scheduled.add(e.event_id)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = e.activity_task_started_event_attributes
            if attrs.scheduled_event_id in scheduled:
                started = max(started, attrs.attempt)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if e.activity_task_completed_event_attributes.scheduled_event_id in scheduled:
                completed += 1
    return started, completed


async def _kill_after(
    procs: Crashes,
    proc: subprocess.Popen[bytes],
    dev: DevEscrow,
    client: Client,
    job_id: str,
    wanted: Callable[[TxRecord], bool],
    activity: str,
) -> TxRecord:
    """SIGKILL ``proc`` as soon as ``wanted``'s transaction is on the ledger."""
    known = len(dev.ledger.transactions())
    record = await _appears(dev, known, wanted)
    procs.kill(proc)
    # the chain has the step; Temporal has not heard that the activity finished
    assert dev.ledger.transaction(record.tx_id) is not None
    _, completed = await _activity_outcomes(client, job_id, activity)
    assert completed == 0, f"{activity} completed before the kill: no crash window"
    return record


async def test_kill_9_after_each_step_still_moves_the_money_once(
    crashes: tuple[Crashes, Client, DevEscrow, str],
    env: WorkflowEnvironment,  # noqa: F811
) -> None:
    procs, client, dev, prefix = crashes
    record = describe(PaidEcho, task_queue=f"{prefix}-paid-echo", vendor="tests")
    worker = procs.start()
    started = await jobs.start_job(
        client,
        record,
        uuid.uuid4().hex[:16],
        {"text": "kill me", "mode": "ok"},
        platform_task_queue=f"{prefix}-platform",
        buyer="tester",
        payment=PaymentPlan(
            mode="escrow",
            escrow=EscrowTerms(price_lovelace=PRICE, platform_buyer=True, watch_seconds=3600),
        ),
    )
    job_id = started.job_id

    # 1. the dev buyer's lock is accepted; the worker dies waiting for its confirmations
    lock = await _kill_after(procs, worker, dev, client, job_id, _lock, "escrow.lock_funds")
    worker = procs.start()
    # 2. the retry finds the lock; the agent runs; the result hash goes on chain: kill again
    submit = await _kill_after(
        procs,
        worker,
        dev,
        client,
        job_id,
        _redeemer(Action.SUBMIT_RESULT),
        "escrow.submit_result",
    )
    assert await _activity_outcomes(client, job_id, "escrow.lock_funds") == (2, 1)
    assert [r.tx_id for r in dev.ledger.transactions()] == [lock.tx_id, submit.tx_id]
    worker = procs.start()
    # 3. skip the six hours to unlockTime; the withdraw is accepted: kill once more
    skipping = asyncio.create_task(env.fast_forward(started.handle, None))
    withdraw = await _kill_after(
        procs, worker, dev, client, job_id, _redeemer(Action.WITHDRAW), "escrow.withdraw"
    )
    assert await _activity_outcomes(client, job_id, "escrow.submit_result") == (2, 1)
    assert [r.tx_id for r in dev.ledger.transactions()] == [
        lock.tx_id,
        submit.tx_id,
        withdraw.tx_id,
    ]
    procs.start()
    await asyncio.wait_for(skipping, timeout=120)
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    assert await _activity_outcomes(client, job_id, "escrow.withdraw") == (2, 1)

    # every step happened once on chain, and each retry said so
    view = await jobs.job_view(client, job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.WITHDRAWN
    assert [(t.action, t.tx_id) for t in view.escrow.transactions] == [
        (EscrowAction.LOCK, lock.tx_id),
        (EscrowAction.SUBMIT_RESULT, submit.tx_id),
        (EscrowAction.WITHDRAW, withdraw.tx_id),
    ]
    ledger = dev.ledger
    txs = ledger.transactions()
    assert [r.tx_id for r in txs] == [lock.tx_id, submit.tx_id, withdraw.tx_id]
    assert [sorted(r.redeemers.values()) for r in txs] == [
        [],
        [Action.SUBMIT_RESULT],
        [Action.WITHDRAW],
    ]
    events = await jobs.job_events(client, job_id)
    steps = [e.data for e in events if e.kind is EventKind.PAYMENT and e.data.get("tx_id")]
    assert [(s["action"], s["already_done"]) for s in steps] == [
        ("lock", True),
        ("submit_result", True),
        ("withdraw", True),
    ]

    # and the money adds up: the buyer paid the price and the lock's fee, the seller got
    # the price less the 5 % fee output and its two transactions' fees
    fee_output = ledger.balance(dev.fee.address)
    assert fee_output >= PRICE * 50 // 1000
    assert ledger.balance(dev.buyer.address) == BUYER_FUNDS - PRICE - lock.fee
    assert ledger.balance(dev.seller.address) == (
        SELLER_FUNDS + PRICE - fee_output - submit.fee - withdraw.fee
    )
    assert ledger.balance(dev.script_address()) == 0
    assert ledger.total_lovelace() + ledger.fees_paid() == ledger.funded()
