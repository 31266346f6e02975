"""The payment seam of a job: secure the money before the agent runs, settle it after.

JobWorkflow calls exactly two steps, whatever the payment mode: ``secure`` (the job waits in
``awaiting_payment`` until it returns) and ``settle`` (after the agent finished, failed or
was cancelled). Free agents are real and settle nothing; the Cardano escrow saga implements
the same two steps with escrow activities.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from workflows.models import JobInput, JobStatus, PaymentPlan

__all__ = ["FreePayment", "PaymentStep", "Secured", "Settled", "payment_for"]


class Secured(BaseModel):
    """The outcome of securing payment: whether the agent may run, and why not."""

    ok: bool
    detail: str


class Settled(BaseModel):
    """What settlement did, for the job's event log."""

    detail: str


class PaymentStep(Protocol):
    """A payment mode: one implementation per way of getting paid."""

    async def secure(self, job: JobInput) -> Secured:
        """Wait until the job is paid for (or cannot be)."""
        ...

    async def settle(self, job: JobInput, outcome: JobStatus, result_hash: str | None) -> Settled:
        """Collect on success; refund the buyer on failure or cancellation."""
        ...


class FreePayment:
    """A free agent: nothing to lock, nothing to settle."""

    async def secure(self, job: JobInput) -> Secured:
        """Free jobs are paid for by definition."""
        return Secured(ok=True, detail="free agent: no payment required")

    async def settle(self, job: JobInput, outcome: JobStatus, result_hash: str | None) -> Settled:
        """Nothing moved, so nothing settles."""
        return Settled(detail=f"free agent: nothing to settle after {outcome.value}")


def payment_for(plan: PaymentPlan) -> PaymentStep:
    """The payment step for a job's plan."""
    if plan.mode == "free":
        return FreePayment()
    raise ValueError(f"unknown payment mode {plan.mode!r}")
