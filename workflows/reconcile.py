"""Every escrow settles, whatever ends its job: the reconciler and the orphan settlement.

A job settles its own escrow (workflows/job.py), unless Temporal ends the job's workflow
from outside: an operator's terminate, a timeout, a reset gone wrong. Its escrow would then
keep the buyer's money locked. ``EscrowReconciler`` runs on a Temporal Schedule on the
platform worker: it finds paid jobs whose workflow closed that way and starts one
``SettleOrphanedEscrow`` per job, with the workflow id ``settle-<job id>`` and a reuse policy
that refuses a second run, so each orphan is settled exactly once however often the
reconciler finds it. The settlement is the saga's refund path: no result was submitted for
such a job, so it never collects.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from durasumi.workflows.escrow_models import OrphanedEscrow, OrphanQuery
from durasumi.workflows.escrow_saga import EscrowPayment

with workflow.unsafe.imports_passed_through():
    from durasumi.activities.reconcile import ReconcileActivities

__all__ = ["RECONCILER_ID", "EscrowReconciler", "ReconcileReport", "SettleOrphanedEscrow"]

RECONCILER_ID = "durasumi-escrow-reconciler"


class ReconcileReport(BaseModel):
    """What one reconciler run did."""

    found: list[str] = Field(default_factory=list)
    started: list[str] = Field(default_factory=list)


def settlement_id(job_id: str) -> str:
    """The id of the one workflow that settles ``job_id``'s orphaned escrow."""
    return f"settle-{job_id}"


@workflow.defn
class SettleOrphanedEscrow:
    """The refund path for one orphaned escrow (see the module docstring)."""

    @workflow.run
    async def run(self, orphan: OrphanedEscrow) -> str:
        """Settle ``orphan``'s escrow: the buyer gets back whatever is locked."""
        # A buyer may still lock until payByTime: settle after it, or a late lock would stay.
        wait = orphan.request.times.pay_by_time - int(workflow.now().timestamp() * 1000)
        if wait > 0:
            await workflow.sleep(timedelta(milliseconds=wait + 2_000))
        settled = await EscrowPayment(orphan.terms).reclaim(orphan.request)
        workflow.logger.info("orphaned escrow of %s: %s", orphan.job_id, settled.detail)
        return settled.detail


@workflow.defn
class EscrowReconciler:
    """Find paid jobs closed without settling and start their settlement, once each."""

    @workflow.run
    async def run(self, query: OrphanQuery) -> ReconcileReport:
        """One pass: list the orphans, start a settlement for each one not started yet."""
        orphans = await workflow.execute_activity_method(
            ReconcileActivities.find_orphaned_escrows,
            query,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        report = ReconcileReport(found=[o.job_id for o in orphans])
        for orphan in orphans:
            try:
                await workflow.start_child_workflow(
                    SettleOrphanedEscrow.run,
                    orphan,
                    id=settlement_id(orphan.job_id),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    static_summary=f"settle the orphaned escrow of {orphan.job_id}",
                )
            except WorkflowAlreadyStartedError:
                continue  # settled, or settling, since an earlier pass
            report.started.append(orphan.job_id)
        return report
