"""Encoding fidelity: chunked Plutus byte strings, hashes over the bytes as submitted, strict redeemers.

The hand-built transactions below are written byte by byte from the CDDL (indefinite
arrays and maps, chunked byte strings, no set tags), as tools other than pycardano (Mesh,
cardano-serialization-lib) may encode them; their ids are computed here from the body bytes
with hashlib, independently of the ledger.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request

import cbor2
import pytest
from pycardano import (
    Redeemer,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
)
from pycardano.plutus import RawPlutusData

from durasumi.activities.escrow.chain import _Escrow
from durasumi.activities.escrow.dev import DevEscrow, dev_escrow
from durasumi.activities.escrow.offline.ledger import Ledger, LedgerError, parse_ref, receive
from durasumi.activities.escrow.plutus import Constr, address_to_data
from durasumi.activities.escrow.script import Action, EscrowDatum, State
from durasumi.activities.escrow.wallet import Wallet
from durasumi.workflows.escrow_models import EscrowState, EscrowStatus
from tests.blockfrost_server import BlockfrostServer
from tests.ledger_fixtures import now_ms

ADA = 1_000_000
PRICE = 20 * ADA
RESULT = bytes.fromhex("cd" * 32)
LONG_KEY = bytes(range(100))  # e.g. a COSE_Key: over 64 bytes
LONG_SIGNATURE = bytes(range(150, 250)) + bytes(range(50))  # e.g. a COSE_Sign1


@pytest.fixture(scope="module")
def dev() -> DevEscrow:
    return dev_escrow()


# -- a tiny CBOR writer, from RFC 8949, for encodings pycardano does not produce -----------


def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def uint(n: int) -> bytes:
    return head(0, n)


def chunked(b: bytes) -> bytes:
    """An indefinite-length byte string of 64-byte chunks."""
    pieces = [b[i : i + 64] for i in range(0, len(b), 64)]
    return b"\x5f" + b"".join(head(2, len(p)) + p for p in pieces) + b"\xff"


def definite_bytes(b: bytes) -> bytes:
    return head(2, len(b)) + b


def indef_array(*items: bytes) -> bytes:
    return b"\x9f" + b"".join(items) + b"\xff"


def indef_map(*pairs: tuple[bytes, bytes]) -> bytes:
    return b"\xbf" + b"".join(k + v for k, v in pairs) + b"\xff"


def constr(tag: int, *fields: bytes) -> bytes:
    # Plutus data convention (cardano-cli, Aiken, Mesh): fields in an indefinite array,
    # no fields as an empty definite one
    return head(6, 121 + tag) + (indef_array(*fields) if fields else b"\x80")


def address_data(wallet: Wallet) -> bytes:
    # Address { PubKeyCredential(hash), no staking credential }, written by hand
    return constr(0, constr(0, definite_bytes(wallet.key_hash.payload)), constr(1))


def escrow_datum_bytes(buyer: Wallet, seller: Wallet, times: tuple[int, int, int, int]) -> bytes:
    """The 16-field V1 datum with long reference key / signature, chunked."""
    return constr(
        0,
        address_data(buyer),
        address_data(seller),
        chunked(LONG_KEY),
        chunked(LONG_SIGNATURE),
        definite_bytes(b"\x01" * 32),
        definite_bytes(b"\x02" * 16),
        uint(0),
        definite_bytes(b"\xab" * 32),
        definite_bytes(b""),
        *(uint(t) for t in times),
        uint(0),
        uint(0),
        constr(State.FUNDS_LOCKED),
    )


def hand_built(
    payer: Wallet, source: str, amount: int, to: bytes, datum: bytes | None, ttl: int
) -> tuple[bytes, bytes]:
    """(transaction, body bytes): ``amount`` from ``source`` minus the fee to ``to``."""
    fee = 400_000
    tx_id, _, index = source.partition("#")
    output = [(uint(0), definite_bytes(to)), (uint(1), uint(amount - fee))]
    if datum is not None:
        output.append((uint(2), indef_array(uint(1), head(6, 24) + definite_bytes(datum))))
    body = indef_map(
        (uint(0), indef_array(indef_array(definite_bytes(bytes.fromhex(tx_id)), uint(int(index))))),
        (uint(1), indef_array(indef_map(*output))),
        (uint(2), uint(fee)),
        (uint(3), uint(ttl)),
    )
    body_hash = hashlib.blake2b(body, digest_size=32).digest()
    signature = payer.signing_key.sign(body_hash)
    witness = indef_array(definite_bytes(payer.verification_key.payload), definite_bytes(signature))
    witnesses = indef_map((uint(0), indef_array(witness)))
    return indef_array(body, witnesses, b"\xf5", b"\xf6"), body


# -- the ledger hashes what was submitted ----------------------------------------------


def test_a_transaction_encoded_unlike_pycardano_is_accepted_by_its_own_id() -> None:
    ledger = Ledger()
    payer, payee = Wallet.generate(), Wallet.generate()
    source = ledger.fund(payer.address, 10 * ADA)
    at = now_ms()
    tx, body = hand_built(payer, source, 10 * ADA, payee.address.to_primitive(), None, 10**9)
    expected = hashlib.blake2b(body, digest_size=32).hexdigest()
    assert receive(tx).tx.id.payload.hex() != expected  # pycardano re-encodes differently
    assert ledger.submit(tx, at) == expected
    assert ledger.output(parse_ref(f"{expected}#0")) is not None
    assert ledger.balance(payee.address) == 10 * ADA - 400_000
    # the new output is spendable by a pycardano-built transaction: the id chains
    builder = TransactionBuilder(ledger.at(at))
    builder.add_input_address(payee.address)
    builder.add_output(TransactionOutput(payer.address, Value(2 * ADA)))
    spend = builder.build_and_sign([payee.signing_key], change_address=payee.address)
    ledger.submit(spend.to_cbor(), at)
    assert ledger.spender(f"{expected}#0") is not None


def test_tampered_or_re_encoded_bodies_are_refused() -> None:
    ledger = Ledger()
    payer, payee = Wallet.generate(), Wallet.generate()
    source = ledger.fund(payer.address, 10 * ADA)
    tx, _body = hand_built(payer, source, 10 * ADA, payee.address.to_primitive(), None, 10**9)
    # the same transaction as pycardano re-encodes it: the signature covers other bytes
    with pytest.raises(LedgerError, match="InvalidWitness"):
        ledger.submit(receive(tx).tx.to_cbor(), now_ms())
    # one byte of the body changed (the ttl, still valid): the signature no longer matches
    ttl_at = tx.index(uint(3) + uint(10**9))
    tampered = bytearray(tx)
    tampered[ttl_at + 5] ^= 0x01
    with pytest.raises(LedgerError, match="InvalidWitness"):
        ledger.submit(bytes(tampered), now_ms())
    ledger.submit(tx, now_ms())


def test_loopback_blockfrost_answers_the_submitted_bodys_id() -> None:
    ledger = Ledger()
    server = BlockfrostServer(ledger).start()
    try:
        payer, payee = Wallet.generate(), Wallet.generate()
        source = server.fund(payer.address, 10 * ADA)
        tx, body = hand_built(payer, source, 10 * ADA, payee.address.to_primitive(), None, 10**9)
        request = urllib.request.Request(
            f"{server.url}/v0/tx/submit",
            data=tx,
            headers={"project_id": server.project_id, "Content-Type": "application/cbor"},
        )
        with urllib.request.urlopen(request) as answer:
            tx_id = json.loads(answer.read())
        assert tx_id == hashlib.blake2b(body, digest_size=32).hexdigest()
        code, utxos = server.get(f"/addresses/{payee.address}/utxos", {})
        assert code == 200 and [u["tx_hash"] for u in utxos] == [tx_id]
    finally:
        server.stop()


# -- Plutus byte strings over 64 bytes ---------------------------------------------------


def test_a_long_datum_field_is_chunked_and_the_script_still_accepts_it(dev: DevEscrow) -> None:
    backend = dev.backend()
    start = now_ms()
    times = (
        start + 20 * 60_000,
        start + 30 * 60_000,
        start + 6 * 3_600_000,
        start + 12 * 3_600_000,
    )
    datum_bytes = escrow_datum_bytes(dev.buyer, dev.seller, times)
    # the datum as durasumi writes it is the hand-written one, byte for byte
    datum = EscrowDatum.from_data(RawPlutusData.from_cbor(datum_bytes), dev.ledger.network)
    assert datum.reference_key == LONG_KEY and datum.reference_signature == LONG_SIGNATURE
    assert datum.to_data().to_cbor() == datum_bytes
    script = backend.script_address()
    lock = TransactionBuilder(dev.ledger.at(start))
    lock.add_input_address(dev.buyer.address)
    lock.add_output(TransactionOutput(script, Value(PRICE), datum=datum.to_data()))
    signed = lock.build_and_sign([dev.buyer.signing_key], change_address=dev.buyer.address)
    raw = signed.to_cbor()
    assert chunked(LONG_SIGNATURE) in raw and definite_bytes(LONG_SIGNATURE) not in raw
    tx_id = dev.ledger.submit(raw, start)
    out_ref = f"{tx_id}#0"
    stored = dev.ledger.output(parse_ref(out_ref))
    assert stored is not None and stored.datum is not None
    # what the ledger keeps (and persists, and Blockfrost serves) is still chunked
    assert chunked(LONG_KEY) in stored.to_cbor()
    again = EscrowDatum.from_data(stored.datum, dev.ledger.network)
    assert again == datum
    # the script reads the long fields and accepts a SubmitResult that keeps them
    escrow = _Escrow(
        EscrowStatus(blockchain_identifier="", state=EscrowState.FUNDS_LOCKED),
        UTxO(parse_ref(out_ref), stored),
        again,
    )
    at = start + 60_000
    window = backend._window(at, before=times[1])
    new = again.with_changes(
        result_hash=RESULT,
        seller_cooldown_time=Ledger.posix_of(window[1]) + dev.params.cooldown_ms,
        state=State.RESULT_SUBMITTED,
    )
    spent = backend._spend(
        dev.seller, escrow, Action.SUBMIT_RESULT, at, window, [backend._continuing(escrow, new)]
    )
    continuing = dev.ledger.output(parse_ref(f"{spent}#0"))
    assert continuing is not None
    assert EscrowDatum.from_data(continuing.datum, dev.ledger.network).reference_key == LONG_KEY


def test_an_unchunked_long_byte_string_is_refused_like_a_node_does(dev: DevEscrow) -> None:
    start = now_ms()
    # RawPlutusData over a bare CBOR tag writes bytes in one piece, as the old datums did
    one_piece = RawPlutusData(
        cbor2.CBORTag(121, [address_to_data(dev.buyer.address).primitive(), LONG_KEY])
    )
    assert definite_bytes(LONG_KEY) in one_piece.to_cbor()
    builder = TransactionBuilder(dev.ledger.at(start))
    builder.add_input_address(dev.buyer.address)
    builder.add_output(TransactionOutput(dev.seller.address, Value(5 * ADA), datum=one_piece))
    tx = builder.build_and_sign([dev.buyer.signing_key], change_address=dev.buyer.address)
    with pytest.raises(LedgerError, match=r"DeserialiseFailure.*100 bytes"):
        dev.ledger.submit(tx.to_cbor(), start)
    builder = TransactionBuilder(dev.ledger.at(start))
    builder.add_input_address(dev.buyer.address)
    fine = Constr(0, [address_to_data(dev.buyer.address), LONG_KEY]).raw()
    builder.add_output(TransactionOutput(dev.seller.address, Value(5 * ADA), datum=fine))
    tx = builder.build_and_sign([dev.buyer.signing_key], change_address=dev.buyer.address)
    dev.ledger.submit(tx.to_cbor(), start)


def test_a_hand_built_lock_with_chunked_datum_is_accepted(dev: DevEscrow) -> None:
    backend = dev.backend()
    payer = Wallet.generate()
    source = dev.ledger.fund(payer.address, PRICE + ADA)
    start = now_ms()
    times = (
        start + 20 * 60_000,
        start + 30 * 60_000,
        start + 6 * 3_600_000,
        start + 12 * 3_600_000,
    )
    datum = escrow_datum_bytes(payer, dev.seller, times)
    script = backend.script_address().to_primitive()
    tx, body = hand_built(payer, source, PRICE + ADA, script, datum, 10**9)
    tx_id = dev.ledger.submit(tx, start)
    assert tx_id == hashlib.blake2b(body, digest_size=32).hexdigest()
    stored = dev.ledger.output(TransactionInput.from_primitive([bytes.fromhex(tx_id), 0]))
    assert stored is not None
    assert EscrowDatum.from_data(stored.datum, dev.ledger.network).reference_signature == (
        LONG_SIGNATURE
    )


# -- redeemers the real V1 validator refuses ---------------------------------------------


def _spend_with_redeemer(dev: DevEscrow, data: Constr, *, disputed: bool) -> str:
    """A valid SubmitResult (or, on a disputed escrow, AuthorizeRefund) under redeemer ``data``.

    The continuing output is exactly what the well-formed redeemer needs, so only the
    redeemer's shape can make the script refuse.
    """
    from durasumi.workflows.escrow_models import EscrowAction, EscrowTerms, PaymentRequestInput

    backend = dev.backend()
    start = now_ms()
    req = backend.create_payment_request(
        PaymentRequestInput(
            job_id=f"redeemer-{data.tag}-{len(data.fields)}-{disputed}-{start}",
            agent="a",
            identifier_from_purchaser="00ff00ff00ff00ff",
            input_hash="ab" * 32,
            price_lovelace=PRICE,
            times=EscrowTerms(price_lovelace=PRICE).times(start),
        )
    )
    backend.perform(EscrowAction.LOCK, req, start + 1_000, None)
    at = start + 60_000
    if disputed:
        backend.perform(EscrowAction.SUBMIT_RESULT, req, at, RESULT.hex())
        backend.perform(EscrowAction.REQUEST_REFUND, req, start + 120_000, None)
        at = start + 180_000
    escrow = backend._escrow(req)
    assert escrow.current is not None and escrow.datum is not None
    window = backend._window(at, before=req.times.submit_result_time)
    cooldown = Ledger.posix_of(window[1]) + dev.params.cooldown_ms
    if disputed:
        assert escrow.datum.state == State.DISPUTED
        new = escrow.datum.with_changes(
            result_hash=b"",
            seller_cooldown_time=cooldown,
            buyer_cooldown_time=0,
            state=State.REFUND_REQUESTED,
        )
    else:
        new = escrow.datum.with_changes(
            result_hash=RESULT, seller_cooldown_time=cooldown, state=State.RESULT_SUBMITTED
        )
    builder = TransactionBuilder(dev.ledger.at(at))
    builder.add_script_input(
        escrow.current, script=backend._script_utxo(), redeemer=Redeemer(data.raw())
    )
    builder.add_input_address(dev.seller.address)
    builder.add_output(backend._continuing(escrow, new))
    builder.required_signers = [dev.seller.key_hash]
    builder.validity_start, builder.ttl = window
    tx = builder.build_and_sign([dev.seller.signing_key], change_address=dev.seller.address)
    return dev.ledger.submit(tx.to_cbor(), at)


# The V1 validator before this rule: SubmitResult with a field passed, and an unknown
# constructor 7 was taken for AuthorizeRefund (the last one) on a disputed escrow.
@pytest.mark.parametrize(
    ("data", "disputed"),
    [
        (Constr(Action.SUBMIT_RESULT, [42]), False),
        (Constr(7, []), True),
        (Constr(Action.AUTHORIZE_REFUND, [b""]), True),
    ],
)
def test_malformed_redeemers_are_rejected(dev: DevEscrow, data: Constr, disputed: bool) -> None:
    with pytest.raises(LedgerError, match="ScriptFailure"):
        _spend_with_redeemer(dev, data, disputed=disputed)


@pytest.mark.parametrize(
    ("data", "disputed"),
    [(Constr(Action.SUBMIT_RESULT, []), False), (Constr(Action.AUTHORIZE_REFUND, []), True)],
)
def test_the_well_formed_redeemers_pass(dev: DevEscrow, data: Constr, disputed: bool) -> None:
    assert _spend_with_redeemer(dev, data, disputed=disputed)
