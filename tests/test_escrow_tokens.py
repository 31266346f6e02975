"""Token-priced escrows on the offline ledger: lock, result, withdraw with the fee in tokens; refund.

Expected balances are computed here from the protocol's rules (the V1 fee: 5 % of every
asset, rounded down; the Babbage minimum UTxO: (160 + output size) * coinsPerUTxOByte),
then compared with what the ledger holds, to the token and to the lovelace.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from pycardano import (
    AssetName,
    MultiAsset,
    ScriptHash,
    ScriptPubkey,
    TransactionBuilder,
    TransactionOutput,
    Value,
)

from durasumi.activities.escrow.chain import _references, multi_asset
from durasumi.activities.escrow.dev import (
    BUYER_STABLECOIN,
    STABLECOIN_NAME,
    DevEscrow,
    mint_stablecoin,
)
from durasumi.activities.escrow.errors import EscrowError
from durasumi.activities.escrow.offline.ledger import LedgerError, parse_ref
from durasumi.activities.escrow.script import EscrowDatum
from durasumi.activities.escrow.wallet import Wallet
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workflows.escrow_models import (
    Amount,
    EscrowAction,
    EscrowState,
    EscrowTerms,
    PaymentRequest,
    PaymentRequestInput,
)
from durasumi.workflows.models import JobStatus, PaymentPlan
from tests import test_escrow_saga as saga
from tests.ledger_fixtures import now_ms
from tests.test_escrow_saga import Paid, actions

# the saga tests' fixtures: a time-skipping Temporal and a platform + agent worker stack
env = saga.env
paid = saga.paid

ADA = USDM = 1_000_000
TOKEN_PRICE = 12_345_678  # 12.345678 tUSDM: 5 % is 617_283.9, the fee rounds down
RESULT = "cd" * 32


def tokens(dev: DevEscrow, value: Value) -> int:
    policy = ScriptHash(bytes.fromhex(dev.stablecoin[:56]))
    return value.multi_asset.get(policy, {}).get(AssetName(STABLECOIN_NAME), 0)


def held(dev: DevEscrow, address: object) -> tuple[int, int]:
    """(lovelace, tUSDM) at ``address``."""
    value = dev.ledger.value_at(str(address))
    return value.coin, tokens(dev, value)


def min_utxo(dev: DevEscrow, out: TransactionOutput) -> int:
    return (160 + len(out.to_cbor())) * dev.ledger.params.coins_per_utxo_byte


def token_request(dev: DevEscrow, job: str, price_lovelace: int = 0) -> PaymentRequest:
    start = now_ms()
    amounts = [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    terms = EscrowTerms(price_lovelace=price_lovelace, amounts=amounts)
    return dev.backend().create_payment_request(
        PaymentRequestInput(
            job_id=job,
            agent="tokens",
            identifier_from_purchaser="00ff00ff00ff00ff",
            input_hash="ab" * 32,
            price_lovelace=terms.price_lovelace,
            amounts=terms.amounts,
            times=terms.times(start),
        )
    )


def test_the_dev_chain_has_a_stablecoin_and_its_policy_governs_minting(dev: DevEscrow) -> None:
    minter = dev.admins[1]
    # a native script's hash: blake2b-224 of 0x00 then its CBOR, [0, key hash] for a signature
    script_cbor = b"\x82\x00\x58\x1c" + minter.key_hash.payload
    policy_id = hashlib.blake2b(b"\x00" + script_cbor, digest_size=28).hexdigest()
    assert dev.stablecoin == policy_id + STABLECOIN_NAME.hex()
    assert held(dev, dev.buyer.address)[1] == BUYER_STABLECOIN
    assert dev.ledger.transactions() == []  # a genesis allocation: the log is the platform's

    dev.ledger.fund(minter.address, 20 * ADA)
    mint_stablecoin(dev.ledger, minter, dev.seller, 5 * USDM, now_ms())
    assert held(dev, dev.seller.address)[1] == 5 * USDM
    minted = dev.ledger.transactions()[-1]
    assert minted.signers == [minter.key_hash.payload.hex()]
    # anyone else signing under the same policy is refused, as is a mint whose policy
    # script is missing (the outsider shows a script of its own, with another hash)
    outsider = Wallet.generate()
    dev.ledger.fund(outsider.address, 20 * ADA)
    for script, refusal in (
        (ScriptPubkey(minter.key_hash), "ScriptWitnessNotValidating"),
        (ScriptPubkey(outsider.key_hash), "MissingScriptWitnesses"),
    ):
        builder = TransactionBuilder(dev.ledger.at(now_ms()))
        builder.add_input_address(outsider.address)
        tokens = {bytes.fromhex(policy_id): {STABLECOIN_NAME: USDM}}
        builder.mint = MultiAsset.from_primitive(tokens)
        builder.native_scripts = [script]
        builder.add_output(
            TransactionOutput(outsider.address, Value(2 * ADA, MultiAsset.from_primitive(tokens)))
        )
        tx = builder.build_and_sign([outsider.signing_key], change_address=outsider.address)
        with pytest.raises(LedgerError, match=refusal):
            dev.ledger.submit(tx.to_cbor(), now_ms())
    assert held(dev, outsider.address)[1] == 0


def test_token_job_locks_submits_and_withdraws_with_the_fee_in_tokens(dev: DevEscrow) -> None:
    backend = dev.backend()
    req = token_request(dev, "token-happy")
    assert req.amounts == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    buyer_ada, buyer_tokens = held(dev, dev.buyer.address)
    seller_ada, seller_tokens = held(dev, dev.seller.address)
    start = req.times.pay_by_time - 20 * 60_000

    backend.perform(EscrowAction.LOCK, req, start, None)
    status = backend.read(req)
    assert status.state is EscrowState.FUNDS_LOCKED
    assert status.amounts == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    lock = dev.ledger.transactions()[-1]
    locked = dev.ledger.output(parse_ref(lock.created[0]))
    assert locked is not None and tokens(dev, locked.amount) == TOKEN_PRICE
    # no lovelace price: the buyer locks the minimum ADA with the tokens, enough for the
    # larger datum (a result hash, cooldowns) the continuing outputs will hold
    assert min_utxo(dev, locked) <= locked.amount.coin == status.amount_lovelace
    assert held(dev, dev.buyer.address) == (
        buyer_ada - locked.amount.coin - lock.fee,
        buyer_tokens - TOKEN_PRICE,
    )

    backend.perform(EscrowAction.SUBMIT_RESULT, req, start + 60_000, RESULT)
    submit = dev.ledger.transactions()[-1]
    continuing = dev.ledger.output(parse_ref(submit.created[0]))
    assert continuing is not None and continuing.amount == locked.amount
    assert min_utxo(dev, continuing) <= locked.amount.coin < min_utxo(dev, continuing) + 100_000
    with pytest.raises(EscrowError, match="not before"):
        backend.perform(EscrowAction.WITHDRAW, req, req.times.unlock_time - 60_000, None)
    backend.perform(EscrowAction.WITHDRAW, req, req.times.unlock_time + 1_000, None)
    withdraw = dev.ledger.transactions()[-1]
    assert backend.read(req).state is EscrowState.WITHDRAWN

    fee_tokens = TOKEN_PRICE * 50 // 1000
    assert fee_tokens == 617_283
    fee_ada, fee_held = held(dev, dev.fee.address)
    assert fee_held == fee_tokens
    fee_out = dev.ledger.output(parse_ref(f"{withdraw.tx_id}#0"))
    assert fee_out is not None and str(fee_out.address) == str(dev.fee.address)
    assert (
        fee_ada
        == fee_out.amount.coin
        == max(locked.amount.coin * 50 // 1000, min_utxo(dev, fee_out))
    )
    assert held(dev, dev.seller.address) == (
        seller_ada + locked.amount.coin - fee_ada - submit.fee - withdraw.fee,
        seller_tokens + TOKEN_PRICE - fee_tokens,
    )
    # nothing created or lost: every lovelace and token is somewhere
    assert dev.ledger.total_lovelace() + dev.ledger.fees_paid() == dev.ledger.funded()
    everyone = [dev.buyer, dev.seller, dev.fee]
    assert sum(held(dev, w.address)[1] for w in everyone) == BUYER_STABLECOIN


def test_failed_token_job_refunds_every_token(dev: DevEscrow) -> None:
    backend = dev.backend()
    req = token_request(dev, "token-refund", price_lovelace=3_000_000)
    buyer_ada, buyer_tokens = held(dev, dev.buyer.address)
    start = req.times.pay_by_time - 20 * 60_000
    backend.perform(EscrowAction.LOCK, req, start, None)
    lock = dev.ledger.transactions()[-1]
    locked = dev.ledger.output(parse_ref(lock.created[0]))
    assert locked is not None
    assert locked.amount.coin >= max(3_000_000, min_utxo(dev, locked))
    backend.perform(EscrowAction.REQUEST_REFUND, req, start + 60_000, None)
    request_refund = dev.ledger.transactions()[-1]
    backend.perform(EscrowAction.WITHDRAW_REFUND, req, req.times.submit_result_time + 1_000, None)
    refund = dev.ledger.transactions()[-1]
    assert backend.read(req).state is EscrowState.REFUND_WITHDRAWN
    assert held(dev, dev.buyer.address) == (
        buyer_ada - lock.fee - request_refund.fee - refund.fee,
        buyer_tokens,
    )
    assert held(dev, dev.fee.address) == (0, 0)


def test_a_lock_short_of_the_tokens_is_funds_or_datum_invalid(dev: DevEscrow) -> None:
    backend = dev.backend()
    req = token_request(dev, "token-short")
    short = req.model_copy(
        update={"amounts": [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE - 1)]}
    )
    backend.perform(EscrowAction.LOCK, short, req.times.pay_by_time - 60_000, None)
    status = backend.read(req)
    assert status.state is EscrowState.FUNDS_OR_DATUM_INVALID
    assert status.amounts == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE - 1)]


def test_a_lock_with_the_bare_minimum_ada_is_topped_up_by_the_seller(dev: DevEscrow) -> None:
    """A buyer (another wallet than durasumi's) locks only the first datum's minimum ADA."""
    backend = dev.backend()
    req = token_request(dev, "token-bare-minimum")
    start = req.times.pay_by_time - 20 * 60_000
    key, signature, seller_nonce, buyer_nonce = _references(req)
    datum = EscrowDatum(
        buyer=dev.buyer.address,
        seller=dev.seller.address,
        reference_key=key,
        reference_signature=signature,
        seller_nonce=seller_nonce,
        buyer_nonce=buyer_nonce,
        collateral_return_lovelace=0,
        input_hash=bytes.fromhex(req.input_hash),
        result_hash=b"",
        pay_by_time=req.times.pay_by_time,
        submit_result_time=req.times.submit_result_time,
        unlock_time=req.times.unlock_time,
        external_dispute_unlock_time=req.times.external_dispute_unlock_time,
        seller_cooldown_time=0,
        buyer_cooldown_time=0,
        state=0,
    )
    out = TransactionOutput(
        backend.script_address(), Value(0, multi_asset(req.amounts)), datum=datum.to_data()
    )
    while out.amount.coin < min_utxo(dev, out):  # the size grows with the coin's
        out.amount.coin = min_utxo(dev, out)
    builder = TransactionBuilder(dev.ledger.at(start))
    builder.add_input_address(dev.buyer.address)
    builder.add_output(out)
    lock = builder.build_and_sign([dev.buyer.signing_key], change_address=dev.buyer.address)
    dev.ledger.submit(lock.to_cbor(), start)
    assert backend.read(req).state is EscrowState.FUNDS_LOCKED

    seller_ada = held(dev, dev.seller.address)[0]
    backend.perform(EscrowAction.SUBMIT_RESULT, req, start + 60_000, RESULT)
    submit = dev.ledger.transactions()[-1]
    continuing = dev.ledger.output(parse_ref(submit.created[0]))
    assert continuing is not None and tokens(dev, continuing.amount) == TOKEN_PRICE
    assert continuing.amount.coin == min_utxo(dev, continuing) > out.amount.coin
    added = continuing.amount.coin - out.amount.coin
    assert held(dev, dev.seller.address)[0] == seller_ada - added - submit.fee


# -- whole paid jobs through the escrow saga (real Temporal, time skipping) ---------------


async def start_token_job(paid: Paid, mode: str) -> jobs.StartedJob:
    terms = EscrowTerms(
        price_lovelace=0,
        amounts=[Amount(unit=paid.dev.stablecoin, amount=TOKEN_PRICE)],
        platform_buyer=True,
        poll_seconds=3600,
    )
    return await jobs.start_job(
        paid.client,
        paid.record,
        uuid.uuid4().hex[:16],
        {"text": "hello", "mode": mode},
        platform_task_queue=paid.queue,
        buyer="tester",
        payment=PaymentPlan(mode="escrow", escrow=terms),
    )


async def test_token_priced_job_withdraws_with_the_fee_in_tokens(paid: Paid) -> None:
    dev = paid.dev
    started = await start_token_job(paid, "ok")
    result = await job_result(started.handle)
    assert result.status is JobStatus.COMPLETED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.WITHDRAWN
    assert view.escrow.price() == [Amount(unit=dev.stablecoin, amount=TOKEN_PRICE)]
    assert actions(view) == [EscrowAction.LOCK, EscrowAction.SUBMIT_RESULT, EscrowAction.WITHDRAW]
    fee_tokens = TOKEN_PRICE * 50 // 1000
    assert held(dev, dev.fee.address)[1] == fee_tokens
    assert held(dev, dev.seller.address)[1] == TOKEN_PRICE - fee_tokens
    assert held(dev, dev.buyer.address)[1] == BUYER_STABLECOIN - TOKEN_PRICE
    assert paid.balanced()


async def test_failed_token_job_refunds_the_tokens(paid: Paid) -> None:
    dev = paid.dev
    buyer_before = held(dev, dev.buyer.address)
    started = await start_token_job(paid, "fail")
    result = await job_result(started.handle)
    assert result.status is JobStatus.FAILED
    view = await paid.view(started.job_id)
    assert view.escrow is not None and view.escrow.state is EscrowState.REFUND_WITHDRAWN
    spent = dev.ledger.transactions()[-3:]  # lock, refund request, refund
    assert [next(iter(r.redeemers.values()), None) for r in spent] == [None, 1, 3]
    assert held(dev, dev.buyer.address) == (
        buyer_before[0] - sum(r.fee for r in spent),
        buyer_before[1],
    )
    assert held(dev, dev.fee.address) == (0, 0) and held(dev, dev.seller.address)[1] == 0
    assert paid.balanced()
