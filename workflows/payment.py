"""The payment seam of a job: secure the money before the agent runs, settle it after.

JobWorkflow calls exactly two steps, whatever the payment mode: ``secure`` (the job waits in
``awaiting_payment`` until it returns) and ``settle`` (after the agent finished, failed or
was cancelled). Free agents are real and settle nothing; the Cardano escrow saga
(``workflows/escrow_saga.py``) implements the same two steps with escrow activities.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, JsonValue

from durasumi.workflows.models import JobInput, JobStatus, PaymentPlan

if TYPE_CHECKING:
    from durasumi.workflows.escrow_models import EscrowView

__all__ = ["FreePayment", "PaymentHooks", "PaymentStep", "Secured", "Settled", "payment_for"]


class Secured(BaseModel):
    """The outcome of securing payment: whether the agent may run, and why not."""

    ok: bool
    detail: str


class Settled(BaseModel):
    """What settlement did, for the job's event log (and whether the buyer got a refund)."""

    detail: str
    refunded: bool = False


class PaymentHooks(Protocol):
    """What a payment step may use of its job: the event log and the cancel flag."""

    def payment_event(self, message: str, data: dict[str, JsonValue]) -> None:
        """Record a payment event (kind PAYMENT) in the job's log."""
        ...

    def cancel_requested(self) -> bool:
        """Whether the job was asked to stop (ends a wait for payment early)."""
        ...


class PaymentStep(Protocol):
    """A payment mode: one implementation per way of getting paid."""

    @property
    def escrow(self) -> EscrowView | None:
        """The escrow behind the job, if any, for its status."""
        ...

    async def secure(self, job: JobInput) -> Secured:
        """Wait until the job is paid for (or cannot be)."""
        ...

    async def settle(self, job: JobInput, outcome: JobStatus, result_hash: str | None) -> Settled:
        """Collect on success; refund the buyer on failure or cancellation."""
        ...


class FreePayment:
    """A free agent: nothing to lock, nothing to settle."""

    escrow: EscrowView | None = None

    async def secure(self, job: JobInput) -> Secured:
        """Free jobs are paid for by definition."""
        return Secured(ok=True, detail="free agent: no payment required")

    async def settle(self, job: JobInput, outcome: JobStatus, result_hash: str | None) -> Settled:
        """Nothing moved, so nothing settles."""
        return Settled(detail=f"free agent: nothing to settle after {outcome.value}")


def payment_for(plan: PaymentPlan, hooks: PaymentHooks | None = None) -> PaymentStep:
    """The payment step for a job's plan; ``hooks`` lets it log events and see cancels."""
    if plan.mode == "free":
        return FreePayment()
    if plan.mode == "escrow" and plan.escrow is not None:
        return EscrowPayment(plan.escrow, hooks)
    raise ValueError(f"unknown payment mode {plan.mode!r}")


# Last, because the saga imports this module's types; imported when workflows load, never lazily
# (the sandbox warns about modules imported after the workflow's first load).
from durasumi.workflows.escrow_saga import EscrowPayment  # noqa: E402
