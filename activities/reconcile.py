"""Finding paid jobs whose workflow Temporal closed before they settled (the reconciler's I/O)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from durasumi.workflows.escrow_models import OrphanedEscrow, OrphanQuery, PaymentRequest
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import JobInput, JobView

__all__ = ["ReconcileActivities"]

log = logging.getLogger(__name__)

# Closed from outside: the job's own code never ran its settlement.
ORPHANING_STATUSES = ("Terminated", "TimedOut")


class ReconcileActivities:
    """Reads visibility and closed jobs' histories with the platform's client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn
    async def find_orphaned_escrows(self, query: OrphanQuery) -> list[OrphanedEscrow]:
        """Paid jobs closed by Temporal (terminated, timed out) with a payment request."""
        since = datetime.now(UTC) - timedelta(hours=query.lookback_hours)
        statuses = ", ".join(f"'{s}'" for s in ORPHANING_STATUSES)
        visibility = (
            f"WorkflowType = 'JobWorkflow' AND ExecutionStatus IN ({statuses}) "
            f"AND CloseTime > '{since.isoformat()}'"
        )
        orphans = []
        async for execution in self._client.list_workflows(visibility):
            activity.heartbeat(execution.id)
            handle = self._client.get_workflow_handle(execution.id, run_id=execution.run_id)
            closed_as = execution.status.name if execution.status else "CLOSED"
            try:
                orphan = await self._orphan(handle, closed_as)
            except (RPCError, WorkflowQueryFailedError) as err:
                # One unreadable job (no worker for its queue right now) must not hide the
                # others: it is looked at again on the next pass.
                log.warning("cannot read closed job %s now: %s", execution.id, err)
                continue
            if orphan is not None:
                orphans.append(orphan)
        return orphans

    async def _orphan(self, handle: WorkflowHandle, closed_as: str) -> OrphanedEscrow | None:
        job = await self._job_input(handle)
        if job is None or job.payment.mode != "escrow" or job.payment.escrow is None:
            return None
        # The query replays the closed job on a platform worker: its escrow as it last knew it.
        view: JobView = await handle.query(JobWorkflow.view)
        escrow = view.escrow
        if escrow is None:  # closed before its payment request: nothing can be locked for it
            return None
        request = PaymentRequest(
            blockchain_identifier=escrow.blockchain_identifier,
            job_id=job.job_id,
            input_hash=job.input_hash,
            price_lovelace=escrow.price_lovelace,
            collateral_return_lovelace=escrow.collateral_return_lovelace,
            times=escrow.times,
            seller_vkey=escrow.seller_vkey,
            seller_address=escrow.seller_address,
            script_address=escrow.script_address,
        )
        log.info("job %s was %s before it settled its escrow", job.job_id, closed_as.lower())
        return OrphanedEscrow(
            job_id=job.job_id, closed_as=closed_as, terms=job.payment.escrow, request=request
        )

    async def _job_input(self, handle: WorkflowHandle) -> JobInput | None:
        async for event in handle.fetch_history_events():
            attributes = event.workflow_execution_started_event_attributes
            payloads = list(attributes.input.payloads)
            if not payloads:
                return None
            (job,) = await self._client.data_converter.decode(payloads, [JobInput])
            return job if isinstance(job, JobInput) else None
        return None
