"""A paid job's whole life through the CLI: `start --pay`, `pay`, `escrow`, and bad input.

Real `durasumi` subprocesses against workers on a time-skipping Temporal dev server and the
offline ledger in DURASUMI_HOME/escrow (the folder `durasumi dev` keeps it in).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from durasumi.activities.escrow.dev import DevEscrow, dev_escrow
from durasumi.activities.escrow.port import EscrowActivities
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.db.registry import AgentRecord, Registry, describe
from durasumi.workers.run import agent_worker, platform_worker
from durasumi.workflows.escrow_models import EscrowState, EscrowTerms
from durasumi.workflows.models import JobStatus, JobView, PaymentPlan
from tests.conftest import Stack, run_cli
from tests.escrow_agents import PaidEcho
from tests.test_escrow_saga import env  # noqa: F401  (the time-skipping server fixture)

PRICE = 12_000_000


@dataclass
class PaidCli:
    stack: Stack
    env: WorkflowEnvironment
    dev: DevEscrow
    record: AgentRecord

    async def cli(self, *args: str) -> tuple[int, str, str]:
        return await run_cli(self.stack, *args)

    async def view_until(self, job_id: str, state: EscrowState) -> JobView:
        for _ in range(300):
            view = await jobs.job_view(self.stack.client, job_id)
            if view.escrow is not None and view.escrow.state is state:
                return view
            await asyncio.sleep(0.1)
        raise AssertionError(f"{job_id}'s escrow never reached {state}")


@pytest.fixture
async def paid_cli(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[PaidCli]:  # noqa: F811
    address = env.client.service_client.config.target_host
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    prefix = f"c-{uuid.uuid4().hex[:8]}"
    stack = Stack(client, address, tmp_path, f"{prefix}-platform", prefix)
    registry = Registry(f"sqlite:///{tmp_path / 'durasumi.db'}")
    record = registry.upsert(
        describe(PaidEcho, task_queue=stack.queue(PaidEcho.name), vendor="tests").model_copy(
            update={"price_lovelace": PRICE}
        )
    )
    dev = dev_escrow(tmp_path / "escrow")
    workers = [
        platform_worker(client, stack.platform_queue, escrow=EscrowActivities(dev.backend())),
        agent_worker(client, [PaidEcho], stack.queue(PaidEcho.name)),
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield PaidCli(stack, env, dev, record)
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_start_pay_runs_a_paid_job_and_escrow_shows_it(paid_cli: PaidCli) -> None:
    code, out, err = await paid_cli.cli(
        "start", "paid-echo", "--pay", "--json", "-F", "text=hello", "-F", "mode=ok"
    )
    assert code == 0, err
    job_id = json.loads(out)["job_id"]
    # the platform's dev buyer locked the agent's price; the result hash is on chain
    view = await paid_cli.view_until(job_id, EscrowState.RESULT_SUBMITTED)
    assert view.escrow is not None and view.escrow.price_lovelace == PRICE
    lock_tx, submit_tx = (t.tx_id for t in view.escrow.transactions)

    code, out, err = await paid_cli.cli("escrow", job_id)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{job_id}: job completed, escrow ResultSubmitted"
    assert "price          12.000000 ada" in out
    assert f"result hash    {view.escrow.result_hash}" in out
    assert any("lock" in line and lock_tx in line for line in lines)
    assert any("submit_result" in line and submit_tx in line for line in lines)

    # past unlockTime the seller withdraws; --json has the state and every transaction
    await paid_cli.env.fast_forward(jobs.job_handle(paid_cli.stack.client, job_id), None)
    code, out, err = await paid_cli.cli("escrow", job_id, "--json")
    assert code == 0, err
    escrow = json.loads(out)
    assert escrow["state"] == "Withdrawn"
    assert escrow["blockchain_identifier"] == view.escrow.blockchain_identifier
    txs = [(t["action"], t["tx_id"]) for t in escrow["transactions"]]
    ledger_txs = [r.tx_id for r in paid_cli.dev.ledger.transactions()]
    assert txs == [
        ("lock", lock_tx),
        ("submit_result", submit_tx),
        ("withdraw", ledger_txs[-1]),
    ]
    assert ledger_txs == [lock_tx, submit_tx, ledger_txs[-1]]
    code, out, _ = await paid_cli.cli("status", job_id)
    assert code == 0 and "completed" in out


async def test_pay_locks_once_as_the_dev_buyer(paid_cli: PaidCli) -> None:
    # a job whose buyer pays from their own wallet, as MIP-003 start_job makes them
    started = await jobs.start_job(
        paid_cli.stack.client,
        paid_cli.record,
        uuid.uuid4().hex[:16],
        {"text": "pay me", "mode": "ok"},
        platform_task_queue=paid_cli.stack.platform_queue,
        buyer="cli",
        payment=PaymentPlan(
            mode="escrow", escrow=EscrowTerms(price_lovelace=PRICE, watch_seconds=3600)
        ),
    )
    view = await paid_cli.view_until(started.job_id, EscrowState.NOT_LOCKED)
    assert view.status is JobStatus.AWAITING_PAYMENT

    code, out, err = await paid_cli.cli("pay", started.job_id)
    assert code == 0, err
    [lock] = paid_cli.dev.ledger.transactions()
    assert out.strip() == f"{started.job_id} paid: escrow FundsLocked in {lock.tx_id}"
    code, out, err = await paid_cli.cli("pay", started.job_id, "--json")
    assert code == 0, err
    again = json.loads(out)
    # the saga may already have noticed the lock and run the job on (the time-skipping
    # server skips ahead while the CLI runs): the escrow is at FundsLocked or past it
    assert again["already_done"] is True
    assert again["state"] in {"FundsLocked", "ResultSubmitted", "Withdrawn"}
    assert again["transactions"][0] == {
        **again["transactions"][0],
        "action": "lock",
        "tx_id": lock.tx_id,
    }
    locks = [t for t in paid_cli.dev.ledger.transactions() if not t.redeemers]
    assert [t.tx_id for t in locks] == [lock.tx_id]  # paying twice locked once

    # the saga notices at its next chain read and runs the job to the end
    await paid_cli.env.fast_forward(started.handle, None)
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    final = await jobs.job_view(paid_cli.stack.client, started.job_id)
    assert final.escrow is not None and final.escrow.state is EscrowState.WITHDRAWN


async def test_bad_input_is_one_line_and_exit_2(paid_cli: PaidCli, tmp_path: Path) -> None:
    free = await jobs.start_job(
        paid_cli.stack.client,
        paid_cli.record,
        uuid.uuid4().hex[:16],
        {"text": "free", "mode": "ok"},
        platform_task_queue=paid_cli.stack.platform_queue,
        buyer="cli",
    )
    await job_result(free.handle)
    cases = [
        (("escrow", "job-paid-echo-nope"), "not found"),
        (("escrow", free.job_id), "has no escrow"),
        (("pay", free.job_id), "has no escrow"),
    ]
    for args, says in cases:
        code, out, err = await paid_cli.cli(*args)
        assert code == 2, (args, out, err)
        assert len(err.strip().splitlines()) == 1 and says in err, (args, err)

    # a home without an escrow and no backend in the settings: --pay says how to turn it on
    bare = Stack(
        paid_cli.stack.client,
        paid_cli.stack.address,
        tmp_path / "bare",
        paid_cli.stack.platform_queue,
        paid_cli.stack.prefix,
    )
    bare.home.mkdir()
    Registry(f"sqlite:///{bare.home / 'durasumi.db'}").upsert(paid_cli.record)
    code, out, err = await run_cli(bare, "start", "paid-echo", "--pay", "-F", "text=x")
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1
    assert "DURASUMI_ESCROW_BACKEND" in err and "durasumi dev" in err
    code, out, err = await run_cli(bare, "pay", free.job_id)
    assert code == 2 and "no offline escrow" in err, err
