"""A payment service's word that an escrow changed: the signal a webhook delivery becomes.

The Masumi payment service posts PAYMENT_ON_CHAIN_STATUS_CHANGED and PAYMENT_ON_ERROR to a
webhook (``api/routes/masumi_webhook.py``); the API turns each delivery into this signal to
the job (``JobWorkflow.escrow_notice``). A notice is a nudge, never a fact: the escrow saga
reads the escrow at once instead of at its next poll, and acts only on what the read says.
A notice that comes twice changes nothing (the repeat is dropped); one that never comes
costs only the wait until the next poll.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["EscrowNotice"]


class EscrowNotice(BaseModel):
    """One webhook delivery about one escrow (signal input)."""

    blockchain_identifier: str = Field(max_length=8000)
    event: Literal["PAYMENT_ON_CHAIN_STATUS_CHANGED", "PAYMENT_ON_ERROR"]
    on_chain_state: str | None = Field(None, max_length=64)
    next_action: str | None = Field(None, max_length=64)
    error: str | None = Field(None, max_length=500)

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None]:
        """What makes two deliveries the same news."""
        return (self.event, self.on_chain_state, self.next_action, self.error)
