"""Escrow failures, classified once: retryable (try again later) or not."""

from __future__ import annotations

__all__ = [
    "ESCROW_CONFLICT",
    "ESCROW_NOT_YET",
    "ESCROW_REJECTED",
    "ESCROW_UNAVAILABLE",
    "ESCROW_UNSUPPORTED",
    "EscrowError",
]

ESCROW_CONFLICT = "EscrowStateConflict"  # the escrow is in a state where the action is impossible
ESCROW_NOT_YET = "EscrowNotYet"  # a deadline has not passed yet: retry later
ESCROW_REJECTED = "EscrowTxRejected"  # the chain refused the transaction
ESCROW_UNAVAILABLE = "EscrowBackendUnavailable"  # network, node or service trouble
ESCROW_UNSUPPORTED = "EscrowUnsupported"  # this backend cannot perform the action


class EscrowError(Exception):
    """A failed escrow operation; ``kind`` becomes the ApplicationError type."""

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
