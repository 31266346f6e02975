"""What a payment mode is: the ``PaymentStep`` protocol, its results and the job's hooks.

Its own module so that every payment mode (``workflows/payment.py``'s free mode, the escrow
saga in ``workflows/escrow_saga.py``) imports these types, and ``payment.py`` imports the
modes, without an import cycle.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, JsonValue

from durasumi.workflows.escrow_models import EscrowView
from durasumi.workflows.escrow_notice import EscrowNotice
from durasumi.workflows.models import JobInput, JobStatus

__all__ = ["PaymentHooks", "PaymentStep", "Secured", "Settled"]


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

    def chain_notice(self, notice: EscrowNotice) -> bool:
        """A payment service says the escrow changed; whether the step took the notice."""
        ...
