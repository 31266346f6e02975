"""Every escrow settles, whatever ends its job: a paid job that Temporal terminates (its own
code never settles) is found by the reconciler and refunded exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from durasumi.client import jobs
from durasumi.workflows.escrow_models import EscrowState, OrphanQuery
from durasumi.workflows.models import JobStatus
from durasumi.workflows.reconcile import EscrowReconciler, ReconcileReport, settlement_id
from tests.test_escrow_saga import PRICE, Paid, env, paid_stack  # noqa: F401  (env: fixture)


@pytest.fixture
async def paid(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Paid]:  # noqa: F811
    stack, workers = await paid_stack(env, tmp_path)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield stack
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)


async def reconcile(paid: Paid) -> ReconcileReport:
    return await paid.client.execute_workflow(
        EscrowReconciler.run,
        OrphanQuery(lookback_hours=1),
        id=f"reconcile-{uuid.uuid4().hex[:8]}",
        task_queue=paid.queue,
    )


async def test_a_terminated_paid_job_is_refunded_once_by_the_reconciler(paid: Paid) -> None:
    buyer = paid.dev.buyer.address
    buyer_before = paid.dev.ledger.balance(buyer)
    started = await paid.start("wait")  # locks, runs, then waits on a form for good
    await paid.wait_for_status(started.job_id, JobStatus.AWAITING_INPUT)
    locked_view = await paid.view(started.job_id)
    assert locked_view.escrow is not None
    assert locked_view.escrow.state is EscrowState.FUNDS_LOCKED
    assert paid.dev.ledger.balance(buyer) < buyer_before - PRICE

    await started.handle.terminate("an operator's mistake")
    assert (await started.handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    view = await paid.view(started.job_id)  # reads as failed, not as awaiting input
    assert view.status is JobStatus.FAILED and view.pending_form is None
    assert "terminated by Temporal" in (view.error or "")

    report = await reconcile(paid)
    assert started.job_id in report.found and started.job_id in report.started
    settle = paid.client.get_workflow_handle(settlement_id(started.job_id))
    await paid.env.fast_forward(settle, None)
    detail = await settle.result()
    assert detail.startswith("refunded to the buyer"), detail

    # Found again on the next pass, never settled twice.
    again = await reconcile(paid)
    assert started.job_id in again.found and started.job_id not in again.started
    assert paid.dev.ledger.balance(paid.dev.script_address()) == 0
    spends = [t for t in paid.dev.ledger.transactions() if t.redeemers]
    assert len(spends) == 2  # request_refund, withdraw_refund: one of each
    assert paid.dev.ledger.balance(buyer) > buyer_before - PRICE  # the price came back
    assert paid.balanced()


async def test_jobs_that_settled_themselves_are_left_alone(paid: Paid) -> None:
    started = await paid.start("ok")
    await paid.env.fast_forward(started.handle, None)
    assert (await jobs.job_result(started.handle)).status is JobStatus.COMPLETED
    report = await reconcile(paid)
    assert started.job_id not in report.found
