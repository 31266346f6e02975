"""The Cardano escrow saga: the ``secure`` / ``settle`` steps of a paid job.

secure: create the payment request, lock the funds when the platform holds the buyer's
wallet, then wait (durable timers between chain reads) until the funds are locked or
payByTime passes. settle: on success submit the MIP-004 result hash before
submitResultTime, watch for a dispute until unlockTime (authorizing the refund if one
comes), then withdraw; on failure, cancellation or a missed deadline never submit a
result and take the refund path (request and withdraw the refund when the platform holds
the buyer's wallet, otherwise watch the buyer do it).

Every chain step is an idempotent activity keyed by (blockchain identifier, action); this
module is deterministic workflow code and never imports pycardano.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel, JsonValue
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from durasumi.workflows.escrow_models import (
    EscrowAction,
    EscrowState,
    EscrowStatus,
    EscrowStep,
    EscrowTerms,
    EscrowView,
    PaymentRequest,
    PaymentRequestInput,
    WaitForFunds,
)
from durasumi.workflows.escrow_notice import EscrowNotice
from durasumi.workflows.models import JobInput, JobStatus
from durasumi.workflows.payment_step import PaymentHooks, Secured, Settled

# The activity class is imported for its method references only. Its annotations name the
# models outside the sandbox, so every result is re-read as the sandbox's model (_sandboxed).
with workflow.unsafe.imports_passed_through():
    from durasumi.activities.escrow.errors import ESCROW_CONFLICT
    from durasumi.activities.escrow.port import EscrowActivities

__all__ = ["EscrowPayment"]

M = TypeVar("M", bound=BaseModel)

# Chain time is in whole slots (1 s): act a little after a deadline, never on it.
SLOT_MARGIN = timedelta(seconds=2)
FIRST_POLL = timedelta(seconds=5)
STEP_TIMEOUT = timedelta(minutes=2)
# A chain step heartbeats while it waits for its transaction's confirmations: a worker that
# dies meanwhile is noticed after this long, not after STEP_TIMEOUT, and the retry finds
# the transaction on chain instead of sending another.
STEP_HEARTBEAT = timedelta(seconds=20)
# Sleeps between chain reads end early on a payment service's notice (webhook); histories
# written before that slept on plain timers.
CHAIN_NOTICES = "escrow-chain-notices"
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


def _now_ms() -> int:
    return int(workflow.now().timestamp() * 1000)


class EscrowPayment:
    """The escrow payment step for one job (see the module docstring).

    Every chain step after ``secure`` created the payment request takes that request as an
    argument, so no step can run without one (rather than asserting it at run time).
    """

    def __init__(self, terms: EscrowTerms, hooks: PaymentHooks | None = None) -> None:
        self.terms = terms
        self.hooks = hooks
        self.request: PaymentRequest | None = None
        self.status: EscrowStatus | None = None
        self._nudged = False  # a notice came: read the chain now, not at the next poll
        self._last_notice: tuple[str, str | None, str | None, str | None] | None = None

    @property
    def escrow(self) -> EscrowView | None:
        """The escrow as the job's status shows it."""
        request, status = self.request, self.status
        if request is None:
            return None
        return EscrowView(
            blockchain_identifier=request.blockchain_identifier,
            state=status.state if status else EscrowState.NOT_LOCKED,
            price_lovelace=request.price_lovelace,
            amounts=request.amounts,
            times=request.times,
            result_hash=status.result_hash if status else "",
            transactions=status.transactions if status else [],
            collateral_return_lovelace=request.collateral_return_lovelace,
            seller_vkey=request.seller_vkey,
            seller_address=request.seller_address,
            script_address=request.script_address,
            agent_identifier=request.agent_identifier,
        )

    def chain_notice(self, notice: EscrowNotice) -> bool:
        """A payment service's webhook: read the escrow now (see workflows/escrow_notice.py).

        Returns False for a notice about another escrow, before the request exists, or a
        repeat of the last one (a redelivery), which change nothing.
        """
        request = self.request
        if request is None or notice.blockchain_identifier != request.blockchain_identifier:
            return False
        if notice.key == self._last_notice:
            return False
        self._last_notice = notice.key
        self._nudged = True
        what = notice.on_chain_state or notice.next_action or "changed"
        self._event(
            f"payment service: {notice.event} ({what})",
            {"on_chain_state": notice.on_chain_state, "error": notice.error},
        )
        return True

    # -- secure ------------------------------------------------------------------------

    async def secure(self, job: JobInput) -> Secured:
        """Wait until the funds are locked; not ok (and why) if they never are."""
        ok, detail = await self._secure(job)
        return Secured(ok=ok, detail=detail)

    async def settle(self, job: JobInput, outcome: JobStatus, result_hash: str | None) -> Settled:
        """Collect on success, refund otherwise."""
        detail = await self._settle(outcome, result_hash)
        refunded = self.status is not None and self.status.state is EscrowState.REFUND_WITHDRAWN
        return Settled(detail=detail, refunded=refunded)

    async def reclaim(self, request: PaymentRequest) -> Settled:
        """Settle the escrow of a job that closed without settling it: the refund path.

        For a job that Temporal (or an operator) terminated: nothing was ever submitted for
        it, so it must never collect; whatever the chain holds goes back to the buyer.
        """
        self.request = request
        detail = await self._settle(JobStatus.FAILED, None)
        refunded = self.status is not None and self.status.state is EscrowState.REFUND_WITHDRAWN
        return Settled(detail=detail, refunded=refunded)

    async def _secure(self, job: JobInput) -> tuple[bool, str]:
        # The windows fixed when the job started (MIP-003 start_job answered them), if any.
        times = job.terms.deadlines() if job.terms else self.terms.times(_now_ms())
        request = self.request = _sandboxed(
            PaymentRequest,
            await workflow.execute_activity_method(
                EscrowActivities.create_payment_request,
                PaymentRequestInput(
                    job_id=job.job_id,
                    agent=job.agent,
                    identifier_from_purchaser=job.identifier_from_purchaser,
                    input_hash=job.input_hash,
                    price_lovelace=self.terms.price_lovelace,
                    amounts=self.terms.amounts,
                    collateral_return_lovelace=self.terms.collateral_return_lovelace,
                    times=times,
                    agent_identifier=self.terms.agent_identifier,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            ),
        )
        t = request.times
        self._event(
            "payment request created",
            {
                "blockchain_identifier": request.blockchain_identifier,
                "price_lovelace": request.price_lovelace,
                "amounts": [a.model_dump() for a in request.amounts],
                "seller_vkey": request.seller_vkey,
                "script_address": request.script_address,
                "pay_by_time": t.pay_by_time,
                "submit_result_time": t.submit_result_time,
                "unlock_time": t.unlock_time,
                "external_dispute_unlock_time": t.external_dispute_unlock_time,
            },
        )
        if self.terms.platform_buyer and not self._cancelled():
            try:
                await self._act(request, EscrowActivities.lock_funds, EscrowAction.LOCK)
            except ActivityError as err:
                self._event(f"could not lock the buyer's funds: {_cause(err)}", {})
        delay = FIRST_POLL
        while True:
            status = _sandboxed(
                EscrowStatus,
                await workflow.execute_activity_method(
                    EscrowActivities.wait_for_funds_locked,
                    WaitForFunds(step=_step(request)),
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=STEP_RETRY,
                ),
            )
            self._seen(status)
            if status.state is EscrowState.FUNDS_LOCKED and status.confirmations >= 1:
                return True, f"funds locked in {status.tx_of(EscrowAction.LOCK)}"
            if status.state is EscrowState.FUNDS_OR_DATUM_INVALID:
                return False, (
                    "the locked funds do not match the payment request (FundsOrDatumInvalid): "
                    "the agent does not run, and no result is ever submitted, so the buyer "
                    "withdraws them after submitResultTime"
                )
            if status.state is not EscrowState.NOT_LOCKED:
                return False, f"escrow is {status.state.value}: {status.detail or 'not payable'}"
            if self._cancelled():
                return False, "cancelled before payment"
            left = t.pay_by_time - _now_ms()
            if left <= 0:
                return False, "unpaid: payByTime passed before the funds were locked"
            await self._sleep(min(delay, timedelta(milliseconds=left)), wake_on_cancel=True)
            delay = min(delay * 2, timedelta(seconds=self.terms.poll_seconds))

    # -- settle ------------------------------------------------------------------------

    async def _settle(self, outcome: JobStatus, result_hash: str | None) -> str:
        request = self.request
        if request is None:
            return "no payment request: nothing to settle"
        try:
            status = await self._read(request)
            if status.state is EscrowState.NOT_LOCKED:
                return "nothing was locked: nothing to settle"
            if status.state is EscrowState.FUNDS_OR_DATUM_INVALID:
                return "the locked output does not match the request: left to the buyer"
            if outcome is JobStatus.COMPLETED and result_hash is not None:
                if _now_ms() < request.times.submit_result_time - _ms(SLOT_MARGIN):
                    try:
                        await self._act(
                            request,
                            EscrowActivities.submit_result,
                            EscrowAction.SUBMIT_RESULT,
                            result_hash,
                        )
                        return await self._collect(request)
                    except ActivityError as err:
                        if _type(err) != ESCROW_CONFLICT:
                            raise
                        self._event(f"result not submitted: {_cause(err)}", {})
                else:
                    self._event("submitResultTime passed: no result submitted", {})
            return await self._refund(request)
        except ActivityError as err:
            self._event(f"settlement stopped: {_cause(err)}", {})
            return f"settlement stopped: {_cause(err)}"

    async def _collect(self, request: PaymentRequest) -> str:
        """Watch for a dispute until unlockTime, then withdraw."""
        unlock = request.times.unlock_time + _ms(SLOT_MARGIN)
        while True:
            status = await self._read(request)
            if status.state is EscrowState.DISPUTED:
                self._event("the buyer disputed the result: authorizing the refund", {})
                await self._act(
                    request, EscrowActivities.authorize_refund, EscrowAction.AUTHORIZE_REFUND
                )
                return await self._refund(request)
            if status.state is EscrowState.REFUND_REQUESTED:
                return await self._refund(request)
            if status.state.closed:
                return f"escrow already {status.state.value}"
            left = unlock - _now_ms()
            if left <= 0:
                break
            await self._sleep(
                min(timedelta(seconds=self.terms.watch_interval), timedelta(milliseconds=left))
            )
        status = await self._act(request, EscrowActivities.withdraw, EscrowAction.WITHDRAW)
        return f"withdrawn in {status.tx_of(EscrowAction.WITHDRAW)}"

    async def _refund(self, request: PaymentRequest) -> str:
        """The refund path: never a result; the buyer gets the funds back."""
        t = request.times
        if not self.terms.platform_buyer:
            return await self._watch_buyer_refund(request)
        status = await self._read(request)
        if status.state is EscrowState.FUNDS_LOCKED and _now_ms() < t.unlock_time - _ms(
            SLOT_MARGIN
        ):
            await self._act(request, EscrowActivities.request_refund, EscrowAction.REQUEST_REFUND)
        wait = t.submit_result_time + _ms(SLOT_MARGIN) - _now_ms()
        if wait > 0:
            await self._sleep(timedelta(milliseconds=wait))
        status = await self._act(
            request, EscrowActivities.withdraw_refund, EscrowAction.WITHDRAW_REFUND
        )
        return f"refunded to the buyer in {status.tx_of(EscrowAction.WITHDRAW_REFUND)}"

    async def _watch_buyer_refund(self, request: PaymentRequest) -> str:
        """External buyer: record what the chain shows until the refund is withdrawn."""
        self._event("refund available to the buyer after submitResultTime", {})
        until = request.times.external_dispute_unlock_time
        while True:
            status = await self._read(request)
            if status.state.closed:
                return f"escrow {status.state.value}"
            left = until - _now_ms()
            if left <= 0:
                return f"escrow still {status.state.value}: the buyer has not withdrawn"
            await self._sleep(
                min(timedelta(seconds=self.terms.watch_interval), timedelta(milliseconds=left))
            )

    # -- plumbing ----------------------------------------------------------------------

    async def _read(self, request: PaymentRequest) -> EscrowStatus:
        status = _sandboxed(
            EscrowStatus,
            await workflow.execute_activity_method(
                EscrowActivities.read_state,
                _step(request),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            ),
        )
        self._seen(status)
        return status

    async def _act(
        self,
        request: PaymentRequest,
        method: Callable[[EscrowActivities, EscrowStep], EscrowStatus],
        action: EscrowAction,
        result_hash: str | None = None,
    ) -> EscrowStatus:
        status = _sandboxed(
            EscrowStatus,
            await workflow.execute_activity_method(
                method,
                _step(request, result_hash),
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=STEP_HEARTBEAT,
                retry_policy=STEP_RETRY,
            ),
        )
        self._seen(status)
        tx_id = status.tx_of(action)
        self._event(
            f"escrow {action.value}: {status.state.value}",
            {
                "action": action.value,
                "tx_id": tx_id,
                "escrow_state": status.state.value,
                "already_done": status.already_done,
            },
        )
        return status

    def _seen(self, status: EscrowStatus) -> None:
        self.status = status

    async def _sleep(self, duration: timedelta, *, wake_on_cancel: bool = False) -> None:
        if duration <= timedelta(0):
            return
        if wake_on_cancel or workflow.patched(CHAIN_NOTICES):

            def woken() -> bool:
                return self._nudged or (wake_on_cancel and self._cancelled())

            try:
                await workflow.wait_condition(woken, timeout=duration)
            except TimeoutError:
                pass
            self._nudged = False
        else:
            await workflow.sleep(duration)

    def _cancelled(self) -> bool:
        return self.hooks is not None and self.hooks.cancel_requested()

    def _event(self, message: str, data: dict[str, JsonValue]) -> None:
        if self.hooks is not None:
            bid = self.request.blockchain_identifier if self.request else None
            self.hooks.payment_event(message, {"blockchain_identifier": bid, **data})


def _step(request: PaymentRequest, result_hash: str | None = None) -> EscrowStep:
    """One escrow action on ``request`` at the workflow's now."""
    return EscrowStep(request=request, at_ms=_now_ms(), result_hash=result_hash)


def _sandboxed(model: type[M], value: BaseModel) -> M:
    """``value`` as the sandbox's own ``model`` class (see the import note above)."""
    return value if isinstance(value, model) else model.model_validate(value.model_dump())


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _type(err: ActivityError) -> str | None:
    return err.cause.type if isinstance(err.cause, ApplicationError) else None


def _cause(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or err)
