"""The escrow validator on the offline ledger: the rules hold, and breaking one is refused."""

from __future__ import annotations

import pytest
from pycardano import Redeemer, TransactionBuilder, TransactionOutput, Value

from durasumi.activities.escrow.chain import DirectChainBackend
from durasumi.activities.escrow.dev import DevEscrow, dev_escrow
from durasumi.activities.escrow.errors import EscrowError
from durasumi.activities.escrow.offline.ledger import Ledger, LedgerError
from durasumi.activities.escrow.script import Action, State
from durasumi.workflows.escrow_models import (
    EscrowAction,
    EscrowState,
    EscrowTerms,
    PaymentRequest,
    PaymentRequestInput,
)
from tests.ledger_fixtures import now_ms

PRICE = 20_000_000
RESULT = "cd" * 32


def request(backend: DirectChainBackend, job: str, start: int) -> PaymentRequest:
    return backend.create_payment_request(
        PaymentRequestInput(
            job_id=job,
            agent="a",
            identifier_from_purchaser="00ff00ff00ff00ff",
            input_hash="ab" * 32,
            price_lovelace=PRICE,
            times=EscrowTerms(price_lovelace=PRICE).times(start),
        )
    )


def locked(dev: DevEscrow, job: str = "j") -> tuple[DirectChainBackend, PaymentRequest, int]:
    backend = dev.backend()
    start = now_ms()
    req = request(backend, job, start)
    backend.perform(EscrowAction.LOCK, req, start + 1_000, None)
    assert backend.read(req).state is EscrowState.FUNDS_LOCKED
    return backend, req, start


def test_request_is_deterministic(dev: DevEscrow) -> None:
    backend = dev.backend()
    start = now_ms()
    assert request(backend, "j", start) == request(backend, "j", start)
    assert request(backend, "j", start) != request(backend, "k", start)


def test_happy_path_pays_seller_fee_and_balances(dev: DevEscrow) -> None:
    backend, req, start = locked(dev)
    seller_before = dev.ledger.balance(dev.seller.address)
    backend.perform(EscrowAction.SUBMIT_RESULT, req, start + 60_000, RESULT)
    status = backend.read(req)
    assert status.state is EscrowState.RESULT_SUBMITTED and status.result_hash == RESULT
    with pytest.raises(EscrowError, match="not before"):
        backend.perform(EscrowAction.WITHDRAW, req, req.times.unlock_time - 60_000, None)
    backend.perform(EscrowAction.WITHDRAW, req, req.times.unlock_time + 1_000, None)
    assert backend.read(req).state is EscrowState.WITHDRAWN
    fee = dev.ledger.balance(dev.fee.address)
    assert fee >= PRICE * 50 // 1000
    seller_gain = dev.ledger.balance(dev.seller.address) - seller_before
    withdraw_fee = dev.ledger.transactions()[-1].fee
    submit_fee = dev.ledger.transactions()[-2].fee
    assert seller_gain == PRICE - fee - withdraw_fee - submit_fee
    assert dev.ledger.total_lovelace() + dev.ledger.fees_paid() == dev.ledger.funded()
    spends = [r for r in dev.ledger.transactions() if r.redeemers]
    assert [next(iter(r.redeemers.values())) for r in spends] == [
        Action.SUBMIT_RESULT,
        Action.WITHDRAW,
    ]
    assert all(r.mem > 0 and r.steps > 0 for r in spends)


def test_refund_and_dispute_paths(dev: DevEscrow) -> None:
    backend, req, start = locked(dev, "refund")
    backend.perform(EscrowAction.REQUEST_REFUND, req, start + 60_000, None)
    assert backend.read(req).state is EscrowState.REFUND_REQUESTED
    with pytest.raises(EscrowError, match="not before"):
        backend.perform(EscrowAction.WITHDRAW_REFUND, req, start + 120_000, None)
    backend.perform(EscrowAction.WITHDRAW_REFUND, req, req.times.submit_result_time + 1_000, None)
    assert backend.read(req).state is EscrowState.REFUND_WITHDRAWN

    backend, req, start = locked(dev, "dispute")
    backend.perform(EscrowAction.SUBMIT_RESULT, req, start + 60_000, RESULT)
    backend.perform(EscrowAction.REQUEST_REFUND, req, start + 120_000, None)
    assert backend.read(req).state is EscrowState.DISPUTED
    backend.perform(EscrowAction.AUTHORIZE_REFUND, req, start + 180_000, None)
    status = backend.read(req)
    assert status.state is EscrowState.REFUND_REQUESTED and status.result_hash == ""
    backend.perform(EscrowAction.WITHDRAW_REFUND, req, req.times.submit_result_time + 1_000, None)
    assert [t.action for t in backend.read(req).transactions] == [
        EscrowAction.LOCK,
        EscrowAction.SUBMIT_RESULT,
        EscrowAction.REQUEST_REFUND,
        EscrowAction.AUTHORIZE_REFUND,
        EscrowAction.WITHDRAW_REFUND,
    ]


# -- negatives: each transaction below breaks one rule, and the script refuses it ------


def escrow_of(backend: DirectChainBackend, req: PaymentRequest):  # type: ignore[no-untyped-def]
    return backend._escrow(req)


def test_wrong_signer_is_rejected_by_the_script(dev: DevEscrow) -> None:
    backend, req, start = locked(dev)
    escrow = escrow_of(backend, req)
    new = escrow.datum.with_changes(
        result_hash=bytes.fromhex(RESULT), seller_cooldown_time=start + 10**7, state=1
    )
    window = backend._window(start + 60_000, before=req.times.submit_result_time)
    with pytest.raises(LedgerError, match="seller signature required"):
        # the buyer signs a SubmitResult: only the seller may
        backend._spend(
            dev.buyer,
            escrow,
            Action.SUBMIT_RESULT,
            start + 60_000,
            window,
            [backend._continuing(escrow, new)],
        )


def test_withdraw_too_early_is_rejected_by_the_script(dev: DevEscrow) -> None:
    backend, req, start = locked(dev)
    backend.perform(EscrowAction.SUBMIT_RESULT, req, start + 60_000, RESULT)
    escrow = escrow_of(backend, req)
    at = req.times.unlock_time - 120_000
    lower = Ledger.slot_of(at)
    with pytest.raises(LedgerError, match="before unlock time"):
        backend._spend(dev.seller, escrow, Action.WITHDRAW, at, (lower, lower + 60), [])


def test_submit_result_too_late_is_rejected_by_the_script(dev: DevEscrow) -> None:
    backend, req, _start = locked(dev)
    escrow = escrow_of(backend, req)
    at = req.times.submit_result_time - 30_000
    lower = Ledger.slot_of(at)
    window = (lower, lower + 120)  # the upper bound reaches past submitResultTime
    new = escrow.datum.with_changes(
        result_hash=bytes.fromhex(RESULT),
        seller_cooldown_time=Ledger.posix_of(lower + 120) + dev.params.cooldown_ms,
        state=State.RESULT_SUBMITTED,
    )
    with pytest.raises(LedgerError, match="too late to submit a result"):
        backend._spend(
            dev.seller, escrow, Action.SUBMIT_RESULT, at, window, [backend._continuing(escrow, new)]
        )


def test_tampered_datum_is_rejected_by_the_script(dev: DevEscrow) -> None:
    backend, req, start = locked(dev)
    escrow = escrow_of(backend, req)
    window = backend._window(start + 60_000, before=req.times.submit_result_time)
    new = escrow.datum.with_changes(
        result_hash=bytes.fromhex(RESULT),
        seller_cooldown_time=Ledger.posix_of(window[1]) + dev.params.cooldown_ms,
        state=State.RESULT_SUBMITTED,
        unlock_time=req.times.submit_result_time + 15 * 60_000,  # the seller shortens the wait
    )
    with pytest.raises(LedgerError, match="datum changed"):
        backend._spend(
            dev.seller,
            escrow,
            Action.SUBMIT_RESULT,
            start + 60_000,
            window,
            [backend._continuing(escrow, new)],
        )


def test_second_script_input_is_rejected_by_the_script(dev: DevEscrow) -> None:
    backend, req, start = locked(dev, "one")
    _, req2, _ = locked(dev, "two")
    first, second = escrow_of(backend, req), escrow_of(backend, req2)
    backend.perform(EscrowAction.SUBMIT_RESULT, req, start + 60_000, RESULT)
    backend.perform(EscrowAction.SUBMIT_RESULT, req2, start + 60_000, RESULT)
    first, second = escrow_of(backend, req), escrow_of(backend, req2)
    at = req.times.unlock_time + 1_000
    ctx = dev.ledger.at(at)
    builder = TransactionBuilder(ctx)
    for e in (first, second):
        builder.add_script_input(
            e.current, script=backend._script_utxo(), redeemer=Redeemer(Action.redeemer(0))
        )
    fee_out = TransactionOutput(dev.fee.address, Value(2 * PRICE // 10))
    builder.add_output(fee_out)
    builder.add_input_address(dev.seller.address)
    builder.required_signers = [dev.seller.key_hash]
    builder.validity_start = Ledger.slot_of(at)
    builder.ttl = builder.validity_start + 60
    with pytest.raises(LedgerError, match="exactly one script input"):
        builder.build_and_sign([dev.seller.signing_key], change_address=dev.seller.address)


def test_ledger_checks_budget_double_spend_and_validity(dev: DevEscrow) -> None:
    backend, req, start = locked(dev)
    escrow = escrow_of(backend, req)
    window = backend._window(start + 60_000, before=req.times.submit_result_time)
    new = escrow.datum.with_changes(
        result_hash=bytes.fromhex(RESULT),
        seller_cooldown_time=Ledger.posix_of(window[1]) + dev.params.cooldown_ms,
        state=State.RESULT_SUBMITTED,
    )
    ctx = dev.ledger.at(start + 60_000)
    builder = TransactionBuilder(ctx)
    builder.add_script_input(
        escrow.current,
        script=backend._script_utxo(),
        redeemer=Redeemer(Action.redeemer(Action.SUBMIT_RESULT)),
    )
    builder.add_input_address(dev.seller.address)
    builder.add_output(backend._continuing(escrow, new))
    builder.required_signers = [dev.seller.key_hash]
    builder.validity_start, builder.ttl = window
    tx = builder.build_and_sign([dev.seller.signing_key], change_address=dev.seller.address)
    with pytest.raises(LedgerError, match="too early"):
        dev.ledger.submit(tx.to_cbor(), Ledger.posix_of(window[0]) - 5_000)
    with pytest.raises(LedgerError, match="too late"):
        dev.ledger.submit(tx.to_cbor(), Ledger.posix_of(window[1]))
    original = tx.to_cbor()
    redeemers = tx.transaction_witness_set.redeemer
    assert redeemers is not None
    entries = redeemers if isinstance(redeemers, list) else list(redeemers.values())
    entries[0].ex_units.steps = 1_000  # below what the script needs: phase 2 fails
    with pytest.raises(LedgerError, match="ScriptFailure"):
        dev.ledger.submit(tx.to_cbor(), start + 60_000)
    dev.ledger.submit(original, start + 60_000)
    with pytest.raises(LedgerError, match="BadInputs"):
        dev.ledger.submit(original, start + 61_000)


def test_persisted_ledger_survives_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = dev_escrow(tmp_path)
    _backend, req, _start = locked(first)
    again = dev_escrow(tmp_path)
    assert again.script_ref == first.script_ref
    assert again.buyer.address == first.buyer.address
    assert again.backend().read(req).state is EscrowState.FUNDS_LOCKED
    assert again.ledger.total_lovelace() + again.ledger.fees_paid() == again.ledger.funded()
