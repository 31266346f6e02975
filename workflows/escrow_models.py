"""The escrow saga's messages: escrow terms, states, and the activity inputs/results.

Pure pydantic, imported inside the workflow sandbox and by the escrow activities; nothing
here knows about pycardano. All times are POSIX milliseconds, as on chain. The windows and
deadlines (``EscrowWindows``, ``EscrowTimes``) are shared with free jobs' MIP-003 terms and
live in ``workflows/terms.py``; ``EscrowTimes`` is re-exported here for the activities.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from durasumi.workflows.terms import EscrowTimes, EscrowWindows

__all__ = [
    "EscrowAction",
    "EscrowState",
    "EscrowStatus",
    "EscrowStep",
    "EscrowTerms",
    "EscrowTimes",
    "EscrowTx",
    "EscrowView",
    "OrphanQuery",
    "OrphanedEscrow",
    "PaymentRequest",
    "PaymentRequestInput",
    "WaitForFunds",
]


class EscrowState(StrEnum):
    """On-chain states of one escrow (the Masumi payment service's names), plus NotLocked."""

    NOT_LOCKED = "NotLocked"
    FUNDS_LOCKED = "FundsLocked"
    FUNDS_OR_DATUM_INVALID = "FundsOrDatumInvalid"
    RESULT_SUBMITTED = "ResultSubmitted"
    REFUND_REQUESTED = "RefundRequested"
    DISPUTED = "Disputed"
    WITHDRAWN = "Withdrawn"
    REFUND_WITHDRAWN = "RefundWithdrawn"
    DISPUTED_WITHDRAWN = "DisputedWithdrawn"

    @property
    def closed(self) -> bool:
        """Whether the funds have left the escrow."""
        return self in (
            EscrowState.WITHDRAWN,
            EscrowState.REFUND_WITHDRAWN,
            EscrowState.DISPUTED_WITHDRAWN,
        )


class EscrowAction(StrEnum):
    """One escrow step: with the blockchain identifier, the idempotency key of an activity."""

    LOCK = "lock"
    SUBMIT_RESULT = "submit_result"
    WITHDRAW = "withdraw"
    REQUEST_REFUND = "request_refund"
    CANCEL_REFUND_REQUEST = "cancel_refund_request"
    WITHDRAW_REFUND = "withdraw_refund"
    AUTHORIZE_REFUND = "authorize_refund"
    WITHDRAW_DISPUTED = "withdraw_disputed"


class EscrowTerms(EscrowWindows):
    """What a paid job costs, its escrow windows (``EscrowWindows``) and how the saga polls.

    Carried by ``PaymentPlan.escrow``; the windows' fields stay flat on the wire (see
    ``workflows/terms.py``).
    """

    price_lovelace: int = Field(gt=0)
    collateral_return_lovelace: int = Field(0, ge=0)
    platform_buyer: bool = Field(
        False, description="The platform holds the buyer's wallet and performs the buyer's steps."
    )
    poll_seconds: int = Field(30, ge=1, le=3600, description="Longest wait between chain reads.")
    watch_seconds: int | None = Field(
        None,
        ge=1,
        le=86_400,
        description="Longest wait between chain reads while watching for a dispute (until "
        "unlockTime) or the buyer's refund; None: poll_seconds. Hours of watching at 30 s "
        "would write thousands of events into the job's history.",
    )

    @property
    def watch_interval(self) -> int:
        """Seconds between chain reads while the saga watches a settled escrow."""
        return self.watch_seconds or self.poll_seconds


class PaymentRequestInput(BaseModel):
    """Ask the seller side for a payment request (activity input)."""

    job_id: str
    agent: str
    identifier_from_purchaser: str
    input_hash: str
    price_lovelace: int
    collateral_return_lovelace: int = 0
    times: EscrowTimes


class PaymentRequest(BaseModel):
    """A payment request: what the buyer must lock, where, and under which identifier."""

    blockchain_identifier: str
    job_id: str
    input_hash: str
    price_lovelace: int
    collateral_return_lovelace: int = 0
    times: EscrowTimes
    seller_vkey: str = ""
    seller_address: str = ""
    script_address: str = ""


class EscrowStep(BaseModel):
    """One escrow action at one instant (activity input); ``at_ms`` is the workflow's now."""

    request: PaymentRequest
    at_ms: int
    result_hash: str | None = None


class WaitForFunds(BaseModel):
    """Check whether the buyer's funds are locked (activity input)."""

    step: EscrowStep


class EscrowTx(BaseModel):
    """A transaction of the escrow's history."""

    action: EscrowAction
    tx_id: str
    at_ms: int | None = None


class EscrowStatus(BaseModel):
    """What the chain says about one escrow (activity result)."""

    blockchain_identifier: str
    state: EscrowState
    result_hash: str = ""
    amount_lovelace: int = 0
    transactions: list[EscrowTx] = Field(default_factory=list)
    confirmations: int = 0
    already_done: bool = False
    detail: str = ""

    def tx_of(self, action: EscrowAction) -> str | None:
        """The id of the last transaction that performed ``action``, if any."""
        found = [t.tx_id for t in self.transactions if t.action is action]
        return found[-1] if found else None


class EscrowView(BaseModel):
    """The escrow as a job's status shows it, with what a buyer needs to pay it.

    The seller fields come from the payment request (MIP-003 start_job answers
    ``sellerVKey``); a buyer locks ``price_lovelace`` (plus nothing else) at
    ``script_address`` with a datum naming ``seller_address`` and the request's times.
    """

    blockchain_identifier: str
    state: EscrowState
    price_lovelace: int
    times: EscrowTimes
    result_hash: str = ""
    transactions: list[EscrowTx] = Field(default_factory=list)
    collateral_return_lovelace: int = 0
    seller_vkey: str = ""
    seller_address: str = ""
    script_address: str = ""


class OrphanQuery(BaseModel):
    """Which closed jobs the escrow reconciler looks at (workflows/reconcile.py)."""

    lookback_hours: int = Field(
        24 * 14, ge=1, description="Jobs closed this long ago at most (escrows live ~days)."
    )


class OrphanedEscrow(BaseModel):
    """A paid job closed by Temporal before it settled, with what settling it needs."""

    job_id: str
    closed_as: str
    terms: EscrowTerms
    request: PaymentRequest
