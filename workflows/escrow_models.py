"""The escrow saga's messages: escrow terms, states, and the activity inputs/results.

Pure pydantic, imported inside the workflow sandbox and by the escrow activities; nothing
here knows about pycardano. All times are POSIX milliseconds, as on chain. The windows and
deadlines (``EscrowWindows``, ``EscrowTimes``) are shared with free jobs' MIP-003 terms and
live in ``workflows/terms.py``; ``EscrowTimes`` is re-exported here for the activities.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from durasumi.workflows.terms import EscrowTimes, EscrowWindows

__all__ = [
    "LOVELACE",
    "Amount",
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
    "split_price",
    "tokens_of",
]


LOVELACE = ""  # the unit of ADA amounts, as Masumi writes it (Blockfrost says "lovelace")
# a native asset: policy id (28 bytes) + asset name (0-32 bytes), hex
_ASSET_UNIT = r"^([0-9a-f]{56}([0-9a-f]{2}){0,32})?$"


class Amount(BaseModel):
    """An amount of one unit: lovelace (unit "") or a native asset (policy id + name, hex)."""

    unit: str = Field(
        LOVELACE,
        pattern=_ASSET_UNIT,
        description='"" (or "lovelace") for ADA in lovelace, else policy id + asset name (hex).',
    )
    amount: int = Field(gt=0, le=2**63 - 1)

    @field_validator("unit", mode="before")
    @classmethod
    def _lovelace(cls, unit: object) -> object:
        if isinstance(unit, str):
            unit = unit.lower()
            return LOVELACE if unit == "lovelace" else unit
        return unit

    @property
    def policy_id(self) -> str:
        """The native asset's policy id (hex); "" for lovelace."""
        return self.unit[:56]

    @property
    def asset_name(self) -> str:
        """The native asset's name (hex); "" for lovelace."""
        return self.unit[56:]

    def label(self) -> str:
        """For people: "1.500000 ada", or the amount with the asset's name (or unit)."""
        if self.unit == LOVELACE:
            return f"{self.amount / 1_000_000:.6f} ada"
        raw = bytes.fromhex(self.asset_name)
        if len(raw) > 4 and raw[0] >> 4 == 0 and raw[3] & 0x0F == 0:
            raw = raw[4:]  # a CIP-67 label (USDM: 333, a fungible token) before the name
        name = raw.decode("ascii", errors="replace")
        shown = name if name and name.isascii() and name.isprintable() else self.unit
        return f"{self.amount} {shown} ({self.policy_id[:8]}...)"


def tokens_of(amounts: list[Amount]) -> list[Amount]:
    """The native-asset amounts of a price, one per unit (lovelace left out)."""
    summed: dict[str, int] = {}
    for a in amounts:
        if a.unit != LOVELACE:
            summed[a.unit] = summed.get(a.unit, 0) + a.amount
    return [Amount(unit=u, amount=n) for u, n in sorted(summed.items())]


def split_price(
    price_lovelace: int, price_amounts: list[dict[str, object]] | list[Amount] | None
) -> tuple[int, list[Amount]]:
    """(lovelace, native-asset amounts) of a registry price.

    ``price_amounts`` None: the price is ``price_lovelace`` alone; otherwise it is the whole
    price, its lovelace the sum of its "" (lovelace) amounts.
    """
    if price_amounts is None:
        return price_lovelace, []
    amounts = [a if isinstance(a, Amount) else Amount.model_validate(a) for a in price_amounts]
    lovelace = sum(a.amount for a in amounts if a.unit == LOVELACE)
    return lovelace, tokens_of(amounts)


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

    price_lovelace: int = Field(
        ge=0,
        description="Lovelace locked; with native-asset amounts at least the output's minimum "
        "ADA is locked (0: that minimum).",
    )
    amounts: list[Amount] = Field(
        default_factory=list,
        max_length=16,
        description="Native assets locked besides price_lovelace (units other than lovelace).",
    )
    collateral_return_lovelace: int = Field(0, ge=0)
    agent_identifier: str = Field(
        "", description="The agent's Masumi registry identifier (policy id + asset name, hex)."
    )
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

    @model_validator(mode="after")
    def _priced(self) -> EscrowTerms:
        if self.price_lovelace <= 0 and not self.amounts:
            raise ValueError("a paid job needs a price: price_lovelace > 0 or amounts")
        if any(a.unit == LOVELACE for a in self.amounts):
            raise ValueError("lovelace belongs in price_lovelace, not in amounts")
        return self

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
    agent_identifier: str = ""
    amounts: list[Amount] = Field(default_factory=list)


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
    agent_identifier: str = ""
    amounts: list[Amount] = Field(
        default_factory=list, description="Native assets to lock besides price_lovelace."
    )


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
    amounts: list[Amount] = Field(
        default_factory=list, description="Native assets the escrow holds besides its lovelace."
    )
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
    ``sellerVKey``); a buyer locks ``price_lovelace`` and ``amounts`` (nothing else) at
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
    agent_identifier: str = ""
    amounts: list[Amount] = Field(
        default_factory=list, description="Native assets to lock besides price_lovelace."
    )

    def price(self) -> list[Amount]:
        """Everything the buyer locks, lovelace first (with tokens: at least the minimum ADA)."""
        ada = [Amount(amount=self.price_lovelace)] if self.price_lovelace else []
        return ada + self.amounts


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
