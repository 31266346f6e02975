"""The escrow port: idempotent activities keyed by (blockchain identifier, action).

Every activity reads the chain first and does nothing when its step already happened, so a
worker that dies between submitting a transaction and recording it never sends a second
one: the retry finds the first on chain and returns it. The backend (direct chain or the
Masumi payment service) is injected by the worker; nothing here reads the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durasumi.activities.escrow.errors import ESCROW_CONFLICT, EscrowError
from durasumi.workflows.escrow_models import (
    EscrowAction,
    EscrowState,
    EscrowStatus,
    EscrowStep,
    PaymentRequest,
    PaymentRequestInput,
    WaitForFunds,
)

__all__ = ["EscrowActivities", "EscrowBackend", "step_done"]

log = logging.getLogger(__name__)


class EscrowBackend(Protocol):
    """One way of reaching the escrow: the chain itself or a payment service."""

    @property
    def holds_buyer_wallet(self) -> bool:
        """Whether the platform can perform the buyer's steps."""
        ...

    def create_payment_request(self, req: PaymentRequestInput) -> PaymentRequest:
        """A payment request (idempotent for the same input)."""
        ...

    def read(self, request: PaymentRequest) -> EscrowStatus:
        """The escrow's state and transactions."""
        ...

    def perform(
        self, action: EscrowAction, request: PaymentRequest, at_ms: int, result_hash: str | None
    ) -> str:
        """Carry out ``action`` now; returns the transaction id ('' if the backend has none)."""
        ...


# Where each action may start, and when it counts as done. A step is done when the chain
# shows it happened: the retry after a crash must find the first transaction, not send one.
ALLOWED: dict[EscrowAction, tuple[EscrowState, ...]] = {
    EscrowAction.LOCK: (EscrowState.NOT_LOCKED,),
    EscrowAction.SUBMIT_RESULT: (
        EscrowState.FUNDS_LOCKED,
        EscrowState.RESULT_SUBMITTED,
        EscrowState.REFUND_REQUESTED,
        EscrowState.DISPUTED,
    ),
    EscrowAction.WITHDRAW: (EscrowState.RESULT_SUBMITTED,),
    EscrowAction.REQUEST_REFUND: (
        EscrowState.FUNDS_LOCKED,
        EscrowState.RESULT_SUBMITTED,
        EscrowState.DISPUTED,
    ),
    EscrowAction.CANCEL_REFUND_REQUEST: (EscrowState.REFUND_REQUESTED, EscrowState.DISPUTED),
    EscrowAction.WITHDRAW_REFUND: (EscrowState.FUNDS_LOCKED, EscrowState.REFUND_REQUESTED),
    EscrowAction.AUTHORIZE_REFUND: (EscrowState.DISPUTED,),
    EscrowAction.WITHDRAW_DISPUTED: (EscrowState.DISPUTED,),
}


def step_done(action: EscrowAction, status: EscrowStatus, result_hash: str | None = None) -> bool:
    """Whether the chain shows that ``action`` already happened for this escrow."""
    state = status.state
    if action is EscrowAction.LOCK:
        return state is not EscrowState.NOT_LOCKED
    if action is EscrowAction.SUBMIT_RESULT:
        submitted = status.tx_of(EscrowAction.SUBMIT_RESULT) is not None
        return submitted and (status.result_hash == result_hash or state.closed)
    if action is EscrowAction.WITHDRAW:
        return state is EscrowState.WITHDRAWN
    if action is EscrowAction.WITHDRAW_REFUND:
        return state is EscrowState.REFUND_WITHDRAWN
    if action is EscrowAction.WITHDRAW_DISPUTED:
        return state is EscrowState.DISPUTED_WITHDRAWN
    return status.tx_of(action) is not None


def _failure(err: EscrowError) -> ApplicationError:
    return ApplicationError(str(err), type=err.kind, non_retryable=not err.retryable)


class EscrowActivities:
    """The escrow activities, bound to one backend by the worker.

    Example:
        >>> escrow = EscrowActivities(backend)  # doctest: +SKIP
        >>> Worker(client, task_queue=q, activities=escrow.all(), ...)  # doctest: +SKIP
    """

    def __init__(self, backend: EscrowBackend) -> None:
        self.backend = backend

    def all(self) -> list[Callable[..., object]]:
        """Every activity method, for ``Worker(activities=...)``."""
        return [
            self.create_payment_request,
            self.read_state,
            self.wait_for_funds_locked,
            self.lock_funds,
            self.submit_result,
            self.withdraw,
            self.request_refund,
            self.withdraw_refund,
            self.authorize_refund,
        ]

    @activity.defn(name="escrow.create_payment_request")
    def create_payment_request(self, req: PaymentRequestInput) -> PaymentRequest:
        """Create (or find again) the seller's payment request for a job."""
        try:
            return self.backend.create_payment_request(req)
        except EscrowError as err:
            raise _failure(err) from err

    @activity.defn(name="escrow.read_state")
    def read_state(self, step: EscrowStep) -> EscrowStatus:
        """The escrow as the chain has it."""
        try:
            return self.backend.read(step.request)
        except EscrowError as err:
            raise _failure(err) from err

    @activity.defn(name="escrow.wait_for_funds_locked")
    def wait_for_funds_locked(self, wait: WaitForFunds) -> EscrowStatus:
        """One look at whether the buyer locked the funds (the workflow waits between looks).

        Waiting is a durable timer in the workflow, not a sleep here, so an hour-long
        payment window costs no worker slot and time-skipping tests can skip it.
        """
        return self.read_state(wait.step)

    @activity.defn(name="escrow.lock_funds")
    def lock_funds(self, step: EscrowStep) -> EscrowStatus:
        """Buyer: lock the price at the escrow address (platform-held buyer wallet)."""
        return self._act(EscrowAction.LOCK, step)

    @activity.defn(name="escrow.submit_result")
    def submit_result(self, step: EscrowStep) -> EscrowStatus:
        """Seller: put the MIP-004 result hash on chain."""
        return self._act(EscrowAction.SUBMIT_RESULT, step)

    @activity.defn(name="escrow.withdraw")
    def withdraw(self, step: EscrowStep) -> EscrowStatus:
        """Seller: collect after unlockTime (the fee output goes with it)."""
        return self._act(EscrowAction.WITHDRAW, step)

    @activity.defn(name="escrow.request_refund")
    def request_refund(self, step: EscrowStep) -> EscrowStatus:
        """Buyer: ask for a refund (a dispute once a result is on chain)."""
        return self._act(EscrowAction.REQUEST_REFUND, step)

    @activity.defn(name="escrow.withdraw_refund")
    def withdraw_refund(self, step: EscrowStep) -> EscrowStatus:
        """Buyer: take the refund after submitResultTime (no result on chain)."""
        return self._act(EscrowAction.WITHDRAW_REFUND, step)

    @activity.defn(name="escrow.authorize_refund")
    def authorize_refund(self, step: EscrowStep) -> EscrowStatus:
        """Seller: give in to a dispute, so the buyer can withdraw the refund."""
        return self._act(EscrowAction.AUTHORIZE_REFUND, step)

    def _act(self, action: EscrowAction, step: EscrowStep) -> EscrowStatus:
        bid = step.request.blockchain_identifier
        try:
            status = self.backend.read(step.request)
            if step_done(action, status, step.result_hash):
                log.info("escrow %s...: %s already done", bid[:16], action.value)
                return status.model_copy(update={"already_done": True})
            if status.state not in ALLOWED[action]:
                raise EscrowError(
                    ESCROW_CONFLICT,
                    f"cannot {action.value} while the escrow is {status.state.value}",
                    retryable=False,
                )
            tx_id = self.backend.perform(action, step.request, step.at_ms, step.result_hash)
            log.info("escrow %s...: %s in %s", bid[:16], action.value, tx_id)
            return self.backend.read(step.request)
        except EscrowError as err:
            raise _failure(err) from err
