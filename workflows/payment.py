"""The payment seam of a job: secure the money before the agent runs, settle it after.

JobWorkflow calls exactly two steps, whatever the payment mode: ``secure`` (the job waits in
``awaiting_payment`` until it returns) and ``settle`` (after the agent finished, failed or
was cancelled). Free agents are real and settle nothing; the Cardano escrow saga
(``workflows/escrow_saga.py``) implements the same two steps with escrow activities. The
protocol and its results live in ``workflows/payment_step.py``, which both modes import.
"""

from __future__ import annotations

from durasumi.workflows.escrow_models import EscrowView
from durasumi.workflows.escrow_notice import EscrowNotice
from durasumi.workflows.escrow_saga import EscrowPayment
from durasumi.workflows.models import JobInput, JobStatus, PaymentPlan
from durasumi.workflows.payment_step import PaymentHooks, PaymentStep, Secured, Settled

__all__ = ["FreePayment", "PaymentHooks", "PaymentStep", "Secured", "Settled", "payment_for"]


class FreePayment:
    """A free agent: nothing to lock, nothing to settle."""

    escrow: EscrowView | None = None

    async def secure(self, job: JobInput) -> Secured:
        """Free jobs are paid for by definition."""
        return Secured(ok=True, detail="free agent: no payment required")

    async def settle(self, job: JobInput, outcome: JobStatus, result_hash: str | None) -> Settled:
        """Nothing moved, so nothing settles."""
        return Settled(detail=f"free agent: nothing to settle after {outcome.value}")

    def chain_notice(self, notice: EscrowNotice) -> bool:
        """No escrow: nothing to look at."""
        return False


def payment_for(plan: PaymentPlan, hooks: PaymentHooks | None = None) -> PaymentStep:
    """The payment step for a job's plan; ``hooks`` lets it log events and see cancels."""
    if plan.mode == "free":
        return FreePayment()
    if plan.mode == "escrow" and plan.escrow is not None:
        return EscrowPayment(plan.escrow, hooks)
    raise ValueError(f"unknown payment mode {plan.mode!r}")
