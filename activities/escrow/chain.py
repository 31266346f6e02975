"""The direct-chain escrow backend: pycardano builds, signs and submits every escrow step.

Chain access is a small port (:class:`ChainAccess`) with two implementations: the offline
ledger (:class:`OfflineChain`, tests and ``durasumi dev``) and Blockfrost
(``activities.escrow.blockfrost``, preprod and mainnet). The script is always spent through
its reference UTxO, the applied script as it sits on chain.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pycardano import (
    Address,
    Asset,
    AssetName,
    ChainContext,
    MultiAsset,
    Network,
    PlutusV3Script,
    Redeemer,
    ScriptHash,
    TransactionBuilder,
    TransactionOutput,
    UTxO,
    Value,
    plutus_script_hash,
)
from pycardano.exception import PyCardanoException
from temporalio import activity

from durasumi.activities.escrow import masumi_format
from durasumi.activities.escrow.cip8 import sign_data
from durasumi.activities.escrow.errors import (
    ESCROW_CONFLICT,
    ESCROW_NOT_YET,
    ESCROW_REJECTED,
    ESCROW_UNAVAILABLE,
    ESCROW_UNSUPPORTED,
    EscrowError,
)
from durasumi.activities.escrow.offline.ledger import Ledger, LedgerError, parse_ref
from durasumi.activities.escrow.plutus import Constr
from durasumi.activities.escrow.script import Action, EscrowDatum, EscrowParams, State
from durasumi.activities.escrow.wallet import Wallet
from durasumi.workflows.escrow_models import (
    Amount,
    EscrowAction,
    EscrowState,
    EscrowStatus,
    EscrowTx,
    PaymentRequest,
    PaymentRequestInput,
    tokens_of,
)
from durasumi.workflows.ids import dev_agent_identifier

__all__ = [
    "ChainAccess",
    "ChainOutput",
    "DirectChainBackend",
    "OfflineChain",
    "multi_asset",
    "tokens_held",
]

log = logging.getLogger(__name__)

TTL_SLOTS = 300  # a transaction stays valid for five minutes unless a deadline is nearer

ACTION_OF_REDEEMER = {
    Action.WITHDRAW: EscrowAction.WITHDRAW,
    Action.SET_REFUND_REQUESTED: EscrowAction.REQUEST_REFUND,
    Action.UNSET_REFUND_REQUESTED: EscrowAction.CANCEL_REFUND_REQUEST,
    Action.WITHDRAW_REFUND: EscrowAction.WITHDRAW_REFUND,
    Action.WITHDRAW_DISPUTED: EscrowAction.WITHDRAW_DISPUTED,
    Action.SUBMIT_RESULT: EscrowAction.SUBMIT_RESULT,
    Action.AUTHORIZE_REFUND: EscrowAction.AUTHORIZE_REFUND,
}
CLOSING = {
    EscrowAction.WITHDRAW: EscrowState.WITHDRAWN,
    EscrowAction.WITHDRAW_REFUND: EscrowState.REFUND_WITHDRAWN,
    EscrowAction.WITHDRAW_DISPUTED: EscrowState.DISPUTED_WITHDRAWN,
}
OPEN_STATES = (
    EscrowState.FUNDS_LOCKED,
    EscrowState.RESULT_SUBMITTED,
    EscrowState.REFUND_REQUESTED,
    EscrowState.DISPUTED,
)


@dataclass(frozen=True)
class ChainOutput:
    """An output ever created at the script address, and what spent it."""

    ref: str
    output: TransactionOutput
    created_ms: int | None = None
    spent_tx: str | None = None
    spent_action: int | None = None
    spent_ms: int | None = None


class ChainAccess(Protocol):
    """What the backend needs from a chain, besides pycardano's ChainContext."""

    network: Network

    def context(self, at_ms: int) -> ChainContext:
        """A ChainContext for building and submitting at ``at_ms`` (real chains: now)."""
        ...

    def now_ms(self, at_ms: int) -> int:
        """The instant a transaction asked for at ``at_ms`` is built at (real chains: now)."""
        ...

    def outputs_at(self, address: Address) -> list[ChainOutput]:
        """Every output ever at ``address``, oldest first, with its spender."""
        ...

    def output(self, ref: str) -> TransactionOutput | None:
        """An unspent output by reference."""
        ...

    def confirmations(self, tx_id: str) -> int:
        """Blocks on top of (and including) the block holding ``tx_id``."""
        ...

    def posix_of(self, slot: int) -> int:
        """POSIX ms at which ``slot`` starts."""
        ...

    def slot_of(self, posix_ms: int) -> int:
        """The slot containing ``posix_ms``."""
        ...


class OfflineChain:
    """ChainAccess over the offline ledger: final on acceptance, clock set by the caller."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.network = ledger.network

    def context(self, at_ms: int) -> ChainContext:
        """The ledger seen at ``at_ms``."""
        return self.ledger.at(at_ms)

    def now_ms(self, at_ms: int) -> int:
        """The caller's instant: every job has its own clock offline."""
        return at_ms

    def outputs_at(self, address: Address) -> list[ChainOutput]:
        """From the ledger's output archive and spend index."""
        found = []
        for ref, out, created, spender in self.ledger.history_with_transactions(address):
            found.append(
                ChainOutput(
                    ref=ref,
                    output=out,
                    created_ms=created.time_ms if created else None,
                    spent_tx=spender.tx_id if spender else None,
                    spent_action=spender.redeemers.get(ref) if spender else None,
                    spent_ms=spender.time_ms if spender else None,
                )
            )
        return found

    def output(self, ref: str) -> TransactionOutput | None:
        """An unspent output."""
        return self.ledger.output(parse_ref(ref))

    def confirmations(self, tx_id: str) -> int:
        """Final on acceptance, or blocks on the ledger's wall clock (``Ledger.block_ms``)."""
        return self.ledger.confirmations(tx_id)

    def posix_of(self, slot: int) -> int:
        """The ledger's slot clock."""
        return self.ledger.posix_of(slot)

    def slot_of(self, posix_ms: int) -> int:
        """The ledger's slot clock."""
        return self.ledger.slot_of(posix_ms)


@dataclass
class _Escrow:
    """The current output of one escrow (if open) and its history.

    ``pending`` is a transaction the chain holds with fewer confirmations than the
    backend requires: the escrow still shows the state before it, and acting again would
    race it (the same action returns it; another waits).
    """

    status: EscrowStatus
    current: UTxO | None = None
    datum: EscrowDatum | None = None
    pending: EscrowTx | None = None


class DirectChainBackend:
    """Escrow steps as pycardano transactions, the seller's (and maybe buyer's) keys in hand.

    Args:
        chain: chain access (offline ledger or Blockfrost).
        params: the deployment's script parameters (fee address and permille are needed
            to pay the fee output on Withdraw).
        script_ref: "txid#ix" of the UTxO that holds the applied script as a reference script.
        seller: the seller wallet (the platform's).
        buyer: the buyer wallet when the platform holds it (dev mode), else None.
        dev_identifiers: a request without the agent's Masumi registry identifier gets one
            made up (stable per agent; dev ledger only), instead of being refused.
        min_confirmations: confirmations before a transaction counts as settled: until
            then the escrow shows the state before it (offline: final on acceptance,
            unless the ledger makes blocks).
        confirm_wait: seconds :meth:`perform` waits for them before a retryable EscrowNotYet.
        confirm_poll: seconds between looks at the confirmations meanwhile.
    """

    def __init__(
        self,
        chain: ChainAccess,
        params: EscrowParams,
        script_ref: str,
        seller: Wallet,
        buyer: Wallet | None = None,
        *,
        dev_identifiers: bool = False,
        min_confirmations: int = 1,
        confirm_wait: float = 60.0,
        confirm_poll: float = 2.0,
    ) -> None:
        self.chain = chain
        self.params = params
        self.script_ref = script_ref
        self.seller = seller
        self.buyer = buyer
        self.dev_identifiers = dev_identifiers
        self.min_confirmations = min_confirmations
        self.confirm_wait = confirm_wait
        self.confirm_poll = confirm_poll
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def holds_buyer_wallet(self) -> bool:
        """Whether this backend can perform the buyer's steps."""
        return self.buyer is not None

    # -- script ------------------------------------------------------------------------

    def _script_utxo(self) -> UTxO:
        out = self.chain.output(self.script_ref)
        if out is None or not isinstance(out.script, PlutusV3Script):
            raise EscrowError(
                ESCROW_UNAVAILABLE,
                f"no escrow reference script at {self.script_ref}",
                retryable=True,
            )
        return UTxO(parse_ref(self.script_ref), out)

    def script_address(self) -> Address:
        """The escrow address: the hash of the script on chain."""
        script = self._script_utxo().output.script
        assert isinstance(script, PlutusV3Script)
        return Address(payment_part=plutus_script_hash(script), network=self.chain.network)

    # -- requests ----------------------------------------------------------------------

    def create_payment_request(self, req: PaymentRequestInput) -> PaymentRequest:
        """A seller-signed request in Masumi's format; asking twice gives the same one.

        The seller nonce's fresh id is derived from the job (not random, as the payment
        service's is) so that a retried activity makes the same request; Ed25519 signatures
        are deterministic, so the identifier is too (``masumi_format``).
        """
        t = req.times
        agent_identifier = req.agent_identifier
        if not agent_identifier and self.dev_identifiers:
            agent_identifier = dev_agent_identifier(req.agent)
        if len(req.identifier_from_purchaser) % 2:
            raise EscrowError(
                ESCROW_REJECTED,
                "identifier_from_purchaser must have an even number of hex characters: it is "
                "the escrow datum's buyer nonce (bytes)",
                retryable=False,
            )
        if not masumi_format.is_agent_identifier(agent_identifier):
            raise EscrowError(
                ESCROW_REJECTED,
                f"agent {req.agent!r} has no Masumi agent identifier (registry policy id + "
                f"asset name, hex): got {agent_identifier!r}",
                retryable=False,
            )
        seller_nonce = masumi_format.seller_id(_nonce(req.job_id), agent_identifier)
        payload = masumi_format.request_payload(
            input_hash=req.input_hash,
            agent_identifier=agent_identifier,
            purchaser_identifier=req.identifier_from_purchaser,
            seller_identifier=seller_nonce,
            pay_by_time=t.pay_by_time,
            submit_result_time=t.submit_result_time,
            unlock_time=t.unlock_time,
            external_dispute_unlock_time=t.external_dispute_unlock_time,
            seller_address=str(self.seller.address),
        )
        signed = sign_data(
            masumi_format.payload_digest(payload), self.seller.signing_key, self.seller.address
        )
        return PaymentRequest(
            blockchain_identifier=masumi_format.encode_identifier(
                seller_nonce, req.identifier_from_purchaser, signed.signature, signed.key
            ),
            job_id=req.job_id,
            input_hash=req.input_hash,
            price_lovelace=req.price_lovelace,
            collateral_return_lovelace=req.collateral_return_lovelace,
            times=req.times,
            seller_vkey=self.seller.key_hash.payload.hex(),
            seller_address=str(self.seller.address),
            script_address=str(self.script_address()),
            agent_identifier=agent_identifier,
            amounts=req.amounts,
        )

    # -- reading -----------------------------------------------------------------------

    def read(self, request: PaymentRequest) -> EscrowStatus:
        """The escrow's state and transactions as the chain has them."""
        return self._escrow(request).status

    def _escrow(self, request: PaymentRequest) -> _Escrow:
        bid = request.blockchain_identifier
        signature = _references(request)[1]
        mine: dict[str, tuple[ChainOutput, EscrowDatum]] = {}
        for o in self.chain.outputs_at(self.script_address()):
            datum = self._datum(o.output)
            if datum is not None and datum.reference_signature == signature:
                mine[o.ref] = (o, datum)
        if not mine:
            return _Escrow(EscrowStatus(blockchain_identifier=bid, state=EscrowState.NOT_LOCKED))
        first, first_datum = next(iter(mine.values()))
        lock = EscrowTx(
            action=EscrowAction.LOCK, tx_id=first.ref.partition("#")[0], at_ms=first.created_ms
        )
        if self._unsettled(lock):
            return _Escrow(
                EscrowStatus(
                    blockchain_identifier=bid,
                    state=EscrowState.NOT_LOCKED,
                    detail=self._waiting(lock),
                ),
                pending=lock,
            )
        txs = [lock]
        if not self._valid_lock(request, first.output, first_datum):
            return _Escrow(
                EscrowStatus(
                    blockchain_identifier=bid,
                    state=EscrowState.FUNDS_OR_DATUM_INVALID,
                    amount_lovelace=first.output.amount.coin,
                    amounts=tokens_held(first.output.amount),
                    transactions=txs,
                    detail="the locked output does not match the payment request",
                )
            )
        node, datum = first, first_datum
        pending: EscrowTx | None = None
        while node.spent_tx is not None:
            action = ACTION_OF_REDEEMER.get(-1 if node.spent_action is None else node.spent_action)
            if action is None:
                break
            tx = EscrowTx(action=action, tx_id=node.spent_tx, at_ms=node.spent_ms)
            if self._unsettled(tx):
                pending = tx
                break
            txs.append(tx)
            following = [v for k, v in mine.items() if k.partition("#")[0] == node.spent_tx]
            if not following:
                state = CLOSING.get(action, EscrowState.FUNDS_OR_DATUM_INVALID)
                return _Escrow(
                    EscrowStatus(
                        blockchain_identifier=bid,
                        state=state,
                        result_hash=datum.result_hash.hex(),
                        amount_lovelace=node.output.amount.coin,
                        amounts=tokens_held(node.output.amount),
                        transactions=txs,
                        confirmations=self.chain.confirmations(node.spent_tx),
                    )
                )
            node, datum = following[0]
        status = EscrowStatus(
            blockchain_identifier=bid,
            state=OPEN_STATES[datum.state],
            result_hash=datum.result_hash.hex(),
            amount_lovelace=node.output.amount.coin,
            amounts=tokens_held(node.output.amount),
            transactions=txs,
            confirmations=self.chain.confirmations(txs[-1].tx_id),
            detail=self._waiting(pending) if pending else "",
        )
        return _Escrow(status, UTxO(parse_ref(node.ref), node.output), datum, pending)

    def _unsettled(self, tx: EscrowTx) -> bool:
        return self.chain.confirmations(tx.tx_id) < self.min_confirmations

    def _waiting(self, tx: EscrowTx) -> str:
        seen = self.chain.confirmations(tx.tx_id)
        return f"{tx.action.value} {tx.tx_id} has {seen}/{self.min_confirmations} confirmations"

    def _datum(self, out: TransactionOutput) -> EscrowDatum | None:
        if out.datum is None:
            return None
        try:
            return EscrowDatum.from_data(out.datum, self.chain.network)
        except (ValueError, IndexError, TypeError):
            return None

    def _valid_lock(self, req: PaymentRequest, out: TransactionOutput, d: EscrowDatum) -> bool:
        t = req.times
        return (
            str(d.seller) == req.seller_address
            and d.input_hash == bytes.fromhex(req.input_hash)
            and d.result_hash == b""
            and d.state == State.FUNDS_LOCKED
            and d.collateral_return_lovelace == req.collateral_return_lovelace
            and (d.pay_by_time, d.submit_result_time, d.unlock_time, d.external_dispute_unlock_time)
            == (t.pay_by_time, t.submit_result_time, t.unlock_time, t.external_dispute_unlock_time)
            and d.seller_cooldown_time == 0
            and d.buyer_cooldown_time == 0
            and isinstance(d.buyer.payment_part, type(self.seller.key_hash))
            and out.amount.coin >= req.price_lovelace
            and tokens_held(out.amount) == _requested(req)
        )

    # -- acting ------------------------------------------------------------------------

    def perform(
        self, action: EscrowAction, request: PaymentRequest, at_ms: int, result_hash: str | None
    ) -> str:
        """Build, sign and submit the transaction for ``action``; returns its id once settled.

        A transaction still short of its confirmations is found rather than repeated: the
        same action waits for it, another action waits for it to settle first. Settled means
        ``min_confirmations`` blocks: the wait heartbeats (a worker killed meanwhile is
        noticed by its heartbeat timeout, and the retry finds the transaction on chain) and
        gives up after ``confirm_wait`` seconds with a retryable EscrowNotYet.
        """
        tx_id = self._send(action, request, at_ms, result_hash)
        self._await_confirmations(action, tx_id)
        return tx_id

    def _send(
        self, action: EscrowAction, request: PaymentRequest, at_ms: int, result_hash: str | None
    ) -> str:
        """The id of ``action``'s transaction: the pending one, or a new one submitted now."""
        at_ms = self.chain.now_ms(at_ms)
        escrow = self._escrow(request)
        if escrow.pending is not None:
            if escrow.pending.action is action:
                return escrow.pending.tx_id
            raise EscrowError(ESCROW_NOT_YET, escrow.status.detail, retryable=True)
        if action is EscrowAction.LOCK:
            return self._signed(self._need_buyer(), lambda w: self._lock(w, request, at_ms))
        if escrow.current is None or escrow.datum is None:
            raise EscrowError(
                ESCROW_CONFLICT,
                f"escrow {request.blockchain_identifier[:16]}... is {escrow.status.state.value}",
                retryable=False,
            )
        handlers: dict[EscrowAction, tuple[Wallet, Callable[[Wallet], str]]] = {
            EscrowAction.SUBMIT_RESULT: (
                self.seller,
                lambda w: self._submit_result(w, escrow, at_ms, result_hash),
            ),
            EscrowAction.WITHDRAW: (self.seller, lambda w: self._withdraw(w, escrow, at_ms)),
            EscrowAction.AUTHORIZE_REFUND: (
                self.seller,
                lambda w: self._authorize(w, escrow, at_ms),
            ),
        }
        if self.buyer is not None:
            handlers[EscrowAction.REQUEST_REFUND] = (
                self.buyer,
                lambda w: self._refund_request(w, escrow, at_ms, True),
            )
            handlers[EscrowAction.CANCEL_REFUND_REQUEST] = (
                self.buyer,
                lambda w: self._refund_request(w, escrow, at_ms, False),
            )
            handlers[EscrowAction.WITHDRAW_REFUND] = (
                self.buyer,
                lambda w: self._withdraw_refund(w, escrow, at_ms),
            )
        if action not in handlers:
            raise EscrowError(
                ESCROW_UNSUPPORTED, f"this platform cannot {action.value}", retryable=False
            )
        wallet, handler = handlers[action]
        return self._signed(wallet, handler)

    def _await_confirmations(self, action: EscrowAction, tx_id: str) -> None:
        deadline = time.monotonic() + self.confirm_wait
        while (seen := self.chain.confirmations(tx_id)) < self.min_confirmations:
            detail = f"{action.value} {tx_id}: {seen}/{self.min_confirmations} confirmations"
            if time.monotonic() >= deadline:
                raise EscrowError(ESCROW_NOT_YET, detail, retryable=True)
            _heartbeat(detail)
            time.sleep(self.confirm_poll)

    def _need_buyer(self) -> Wallet:
        if self.buyer is None:
            raise EscrowError(
                ESCROW_UNSUPPORTED, "the platform does not hold the buyer's wallet", retryable=False
            )
        return self.buyer

    def _signed(self, wallet: Wallet, build: Callable[[Wallet], str]) -> str:
        """Serialise the transactions of one wallet (they spend the same UTxOs)."""
        key = str(wallet.address)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            try:
                return build(wallet)
            except LedgerError as err:
                retry = err.kind in ("BadInputs", "OutsideValidityInterval")
                raise EscrowError(
                    ESCROW_UNAVAILABLE if retry else ESCROW_REJECTED, str(err), retryable=retry
                ) from err
            except PyCardanoException as err:
                raise EscrowError(
                    ESCROW_UNAVAILABLE, f"cannot build: {err}", retryable=True
                ) from err

    def _window(
        self, at_ms: int, *, earliest: int = 0, before: int | None = None
    ) -> tuple[int, int]:
        """(validity start, ttl) slots: starting now, ending before ``before`` if set."""
        lower = self.chain.slot_of(at_ms)
        if self.chain.posix_of(lower) < earliest:
            raise EscrowError(
                ESCROW_NOT_YET, f"not before {earliest} (now {at_ms})", retryable=True
            )
        upper = lower + TTL_SLOTS
        if before is not None:
            upper = min(upper, self.chain.slot_of(before - 1))
        if upper <= lower:
            raise EscrowError(
                ESCROW_CONFLICT, f"too late: the deadline {before} passed", retryable=False
            )
        return lower, upper

    def _lock(self, buyer: Wallet, request: PaymentRequest, at_ms: int) -> str:
        # Read again under the buyer's wallet lock: an attempt that timed out while still
        # running may have locked since this one read the escrow (a lock spends only the
        # buyer's own outputs, so the chain would take a second one).
        again = self._escrow(request)
        if again.pending is not None:
            return again.pending.tx_id
        if again.status.state is not EscrowState.NOT_LOCKED:
            return again.status.transactions[0].tx_id
        t = request.times
        if at_ms >= t.pay_by_time:
            raise EscrowError(ESCROW_CONFLICT, "payByTime has passed", retryable=False)
        reference_key, reference_signature, seller_nonce, buyer_nonce = _references(request)
        datum = EscrowDatum(
            buyer=buyer.address,
            seller=Address.from_primitive(request.seller_address),
            reference_key=reference_key,
            reference_signature=reference_signature,
            seller_nonce=seller_nonce,
            buyer_nonce=buyer_nonce,
            collateral_return_lovelace=request.collateral_return_lovelace,
            input_hash=bytes.fromhex(request.input_hash),
            result_hash=b"",
            pay_by_time=t.pay_by_time,
            submit_result_time=t.submit_result_time,
            unlock_time=t.unlock_time,
            external_dispute_unlock_time=t.external_dispute_unlock_time,
            seller_cooldown_time=0,
            buyer_cooldown_time=0,
            state=State.FUNDS_LOCKED,
        )
        ctx = self.chain.context(at_ms)
        builder = TransactionBuilder(ctx)
        builder.add_input_address(buyer.address)
        locked = TransactionOutput(
            self.script_address(),
            Value(request.price_lovelace, multi_asset(_requested(request))),
            datum=datum.to_data(),
        )
        # Tokens travel with ADA: at least the output's minimum (the seller collects it), for
        # the largest datum the escrow will hold (a result hash, cooldowns), since every
        # continuing output keeps the locked value and must still meet the minimum.
        largest = TransactionOutput(
            locked.address,
            locked.amount,
            datum=datum.with_changes(
                result_hash=bytes(32),
                seller_cooldown_time=2**63 - 1,
                buyer_cooldown_time=2**63 - 1,
            ).to_data(),
        )
        _at_least_min_ada(largest, ctx, request.price_lovelace)
        locked.amount.coin = largest.amount.coin
        builder.add_output(locked)
        builder.validity_start, builder.ttl = self._window(at_ms, before=t.pay_by_time)
        tx = builder.build_and_sign([buyer.signing_key], change_address=buyer.address)
        return _submit(ctx, tx)

    def _spend(
        self,
        wallet: Wallet,
        escrow: _Escrow,
        action: int,
        at_ms: int,
        window: tuple[int, int],
        outputs: list[TransactionOutput],
    ) -> str:
        assert escrow.current is not None
        ctx = self.chain.context(at_ms)
        builder = TransactionBuilder(ctx)
        builder.add_script_input(
            escrow.current, script=self._script_utxo(), redeemer=Redeemer(Action.redeemer(action))
        )
        builder.add_input_address(wallet.address)
        for out in outputs:
            if out.address == escrow.current.output.address:
                # a longer datum (a result hash, cooldowns) may need more ADA than a buyer
                # locked: the spender adds it (the script only asks for no less value)
                _at_least_min_ada(out, ctx, out.amount.coin)
            builder.add_output(out)
        builder.required_signers = [wallet.key_hash]
        builder.validity_start, builder.ttl = window
        tx = builder.build_and_sign([wallet.signing_key], change_address=wallet.address)
        return _submit(ctx, tx)

    def _continuing(self, escrow: _Escrow, datum: EscrowDatum) -> TransactionOutput:
        assert escrow.current is not None
        return TransactionOutput(
            escrow.current.output.address, escrow.current.output.amount, datum=datum.to_data()
        )

    def _submit_result(
        self, seller: Wallet, escrow: _Escrow, at_ms: int, result_hash: str | None
    ) -> str:
        d = escrow.datum
        assert d is not None
        if not result_hash:
            raise EscrowError(ESCROW_CONFLICT, "no result hash to submit", retryable=False)
        deadline = d.external_dispute_unlock_time if d.result_hash else d.submit_result_time
        window = self._window(at_ms, earliest=d.seller_cooldown_time, before=deadline)
        upper = self.chain.posix_of(window[1])
        new_state = (
            State.RESULT_SUBMITTED
            if d.state in (State.FUNDS_LOCKED, State.RESULT_SUBMITTED)
            else State.DISPUTED
        )
        new = d.with_changes(
            result_hash=bytes.fromhex(result_hash),
            seller_cooldown_time=upper + self.params.cooldown_ms,
            buyer_cooldown_time=0,
            state=new_state,
        )
        return self._spend(
            seller, escrow, Action.SUBMIT_RESULT, at_ms, window, [self._continuing(escrow, new)]
        )

    def _withdraw(self, seller: Wallet, escrow: _Escrow, at_ms: int) -> str:
        d, current = escrow.datum, escrow.current
        assert d is not None and current is not None
        window = self._window(at_ms, earliest=d.unlock_time)
        tag = Constr(0, [current.input.transaction_id.payload, current.input.index]).raw()
        ctx = self.chain.context(at_ms)
        # the fee: permille of every asset held (rounded down, as the script checks), and
        # at least the minimum ADA of an output carrying those tokens
        permille = self.params.fee_permille
        fee_tokens = [
            Amount(unit=a.unit, amount=a.amount * permille // 1000)
            for a in tokens_held(current.output.amount)
            if a.amount * permille // 1000 > 0
        ]
        fee_out = TransactionOutput(
            self.params.fee_address, Value(0, multi_asset(fee_tokens)), datum=tag
        )
        _at_least_min_ada(fee_out, ctx, current.output.amount.coin * permille // 1000)
        outputs = [fee_out]
        if d.collateral_return_lovelace:
            back = TransactionOutput(d.buyer, Value(0), datum=tag)
            _at_least_min_ada(back, ctx, d.collateral_return_lovelace)
            outputs.append(back)
        return self._spend(seller, escrow, Action.WITHDRAW, at_ms, window, outputs)

    def _authorize(self, seller: Wallet, escrow: _Escrow, at_ms: int) -> str:
        d = escrow.datum
        assert d is not None
        window = self._window(at_ms, earliest=d.seller_cooldown_time)
        new = d.with_changes(
            result_hash=b"",
            seller_cooldown_time=self.chain.posix_of(window[1]) + self.params.cooldown_ms,
            buyer_cooldown_time=0,
            state=State.REFUND_REQUESTED,
        )
        return self._spend(
            seller, escrow, Action.AUTHORIZE_REFUND, at_ms, window, [self._continuing(escrow, new)]
        )

    def _refund_request(self, buyer: Wallet, escrow: _Escrow, at_ms: int, request: bool) -> str:
        d = escrow.datum
        assert d is not None
        before = d.unlock_time if request else None
        window = self._window(at_ms, earliest=d.buyer_cooldown_time, before=before)
        if request:
            state = State.DISPUTED if d.result_hash else State.REFUND_REQUESTED
        else:
            state = State.RESULT_SUBMITTED if d.result_hash else State.FUNDS_LOCKED
        new = d.with_changes(
            seller_cooldown_time=0,
            buyer_cooldown_time=self.chain.posix_of(window[1]) + self.params.cooldown_ms,
            state=state,
        )
        action = Action.SET_REFUND_REQUESTED if request else Action.UNSET_REFUND_REQUESTED
        return self._spend(buyer, escrow, action, at_ms, window, [self._continuing(escrow, new)])

    def _withdraw_refund(self, buyer: Wallet, escrow: _Escrow, at_ms: int) -> str:
        d = escrow.datum
        assert d is not None
        window = self._window(at_ms, earliest=d.submit_result_time)
        return self._spend(buyer, escrow, Action.WITHDRAW_REFUND, at_ms, window, [])


def _heartbeat(detail: str) -> None:
    """Tell Temporal the activity is alive (a no-op outside an activity: bench, tests)."""
    if activity.in_activity():
        activity.heartbeat(detail)


def _nonce(job_id: str) -> str:
    """The fresh id behind a job's seller nonce (Masumi: a random cuid; here: the job's own)."""
    return f"durasumi/{job_id}"


def _references(request: PaymentRequest) -> tuple[bytes, bytes, bytes, bytes]:
    """The datum's (reference key, reference signature, seller nonce, buyer nonce).

    From the Masumi identifier; a request made before durasumi spoke Masumi's format (its
    identifier a bare signature) keeps the fields it was locked with.
    """
    decoded = masumi_format.decode_identifier(request.blockchain_identifier)
    if decoded is not None:
        return decoded.datum_references()
    legacy = bytes.fromhex(request.blockchain_identifier)
    return (
        bytes.fromhex(request.seller_vkey),
        legacy,
        hashlib.blake2b(request.job_id.encode(), digest_size=16).digest(),
        hashlib.blake2b(request.blockchain_identifier.encode(), digest_size=16).digest(),
    )


def _requested(request: PaymentRequest) -> list[Amount]:
    return tokens_of(request.amounts)


def tokens_held(value: Value) -> list[Amount]:
    """The native assets in ``value`` as amounts (unit: policy id + asset name hex), sorted."""
    found = [
        Amount(unit=policy.payload.hex() + name.payload.hex(), amount=n)
        for policy, assets in (value.multi_asset or {}).items()
        for name, n in assets.items()
        if n > 0
    ]
    return tokens_of(found)


def multi_asset(amounts: list[Amount]) -> MultiAsset:
    """The MultiAsset (pycardano) of native-asset amounts; lovelace amounts are left out."""
    assets = MultiAsset()
    for a in tokens_of(amounts):
        policy = ScriptHash(bytes.fromhex(a.policy_id))
        assets.setdefault(policy, Asset())[AssetName(bytes.fromhex(a.asset_name))] = a.amount
    return assets


def _at_least_min_ada(out: TransactionOutput, ctx: ChainContext, lovelace: int) -> None:
    """Give ``out`` ``lovelace``, or its minimum ADA if more (which grows with the coin's size)."""
    # new Values, never the one given: it may be a spent UTxO's (pycardano keys maps by it)
    out.amount = Value(lovelace, out.amount.multi_asset)
    while out.amount.coin < (needed := _min_ada(out, ctx)):
        out.amount = Value(needed, out.amount.multi_asset)


def _min_ada(out: TransactionOutput, ctx: ChainContext) -> int:
    from pycardano.utils import min_lovelace_post_alonzo

    return int(min_lovelace_post_alonzo(out, ctx))


def _submit(ctx: ChainContext, tx: object) -> str:
    result = ctx.submit_tx(tx)  # type: ignore[arg-type]
    tx_id = str(result) if result else tx.id.payload.hex()  # type: ignore[attr-defined]
    log.info("submitted escrow transaction %s", tx_id)
    return tx_id
