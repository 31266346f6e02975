"""The direct backends' payment request, checked the way a Masumi buyer checks it.

Everything a buyer does is written here from the formats (masumi-payment-service 0.28:
``blockchain-identifier.ts``, ``purchases/shared.ts``, Mesh's ``checkSignature``): an
LZString decoder, a COSE_Sign1 / COSE_Key reader, the signed payload rebuilt from the
request, the Ed25519 check (PyNaCl) and the key hash (hashlib), never durasumi's helpers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import cbor2
import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from durasumi.activities.escrow.dev import DevEscrow, dev_escrow
from durasumi.activities.escrow.errors import EscrowError
from durasumi.activities.escrow.lzstring import compress_to_bytes
from durasumi.activities.escrow.offline.ledger import Ledger
from durasumi.workflows.escrow_models import (
    EscrowAction,
    EscrowState,
    EscrowTerms,
    PaymentRequest,
    PaymentRequestInput,
)

PRICE = 12_000_000
BUYER_ID = "0a1b2c3d4e5f60718293a4b5c6"  # 26 hex, the longest Masumi accepts
AGENT_ID = "ab" * 28 + "6d79206167656e74"  # policy id + asset name "my agent"


# -- a buyer's decoder, from the format ------------------------------------------------


def _bits(data: bytes) -> Iterator[int]:
    """The stream's bits: 16-bit big-endian characters, most significant bit first."""
    for i in range(0, len(data), 2):
        char = (data[i] << 8) | data[i + 1]
        for shift in range(15, -1, -1):
            yield (char >> shift) & 1


def lz_decode(data: bytes) -> str:
    """LZString decompressFromUint8Array: LZW codes read least significant bit first."""
    stream = _bits(data)

    def value(width: int) -> int:
        return sum(next(stream, 0) << i for i in range(width))

    table: dict[int, str] = {}
    width, size, budget = 2, 3, 1  # after the first literal: 3 bits, 4 entries
    kind = value(width)
    assert kind in (0, 1), "stream ends before its first character"
    previous = chr(value(8 if kind == 0 else 16))
    table[size] = previous
    size += 1
    width, budget = 3, 4
    out = [previous]
    while True:
        code = value(width)
        if code == 2:  # the end; JS strings are UTF-16 code units: pair the surrogates
            return "".join(out).encode("utf-16-be", "surrogatepass").decode("utf-16-be")
        if code in (0, 1):
            table[size] = chr(value(8 if code == 0 else 16))
            code = size
            size += 1
            budget -= 1
            if budget == 0:
                width, budget = width + 1, 1 << width
        entry = table[code] if code in table else previous + previous[0]
        assert code in table or code == size, "corrupt stream"
        out.append(entry)
        table[size] = previous + entry[0]
        size += 1
        previous = entry
        budget -= 1
        if budget == 0:
            width, budget = width + 1, 1 << width


def signed_payload(request: PaymentRequest, agent_identifier: str, seller_id: str) -> bytes:
    """What the buyer rebuilds and hashes: canonical-json of the V1 payload (fixed pricing)."""
    t = request.times
    payload = {
        "inputHash": request.input_hash,
        "agentIdentifier": agent_identifier,
        "purchaserIdentifier": BUYER_ID,
        "sellerIdentifier": seller_id,
        "RequestedFunds": None,
        "payByTime": str(t.pay_by_time),
        "submitResultTime": str(t.submit_result_time),
        "unlockTime": str(t.unlock_time),
        "externalDisputeUnlockTime": str(t.external_dispute_unlock_time),
        "sellerAddress": request.seller_address,
    }
    members = ",".join(f"{json.dumps(k)}:{json.dumps(payload[k])}" for k in sorted(payload))
    return hashlib.sha256(("{" + members + "}").encode()).digest()


def check_signature(data: bytes, signature_hex: str, key_hex: str) -> bytes:
    """Mesh checkSignature: the payload is ``data``, the Ed25519 signature verifies; the key."""
    protected, unprotected, payload, signature = cbor2.loads(bytes.fromhex(signature_hex))
    assert cbor2.loads(protected)[1] == -8 and unprotected == {"hashed": False}
    assert payload == data
    public_key = cbor2.loads(bytes.fromhex(key_hex))[-2]
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    VerifyKey(public_key).verify(to_sign, signature)
    return bytes(public_key)


# -- the tests ---------------------------------------------------------------------------


@pytest.fixture
def dev() -> DevEscrow:
    return dev_escrow()


def now_ms() -> int:
    return Ledger.posix_of(Ledger.slot_of(int(time.time() * 1000)))


def make_request(dev: DevEscrow, job: str = "job-1", agent_identifier: str = AGENT_ID):
    return dev.backend().create_payment_request(
        PaymentRequestInput(
            job_id=job,
            agent="paid-echo",
            identifier_from_purchaser=BUYER_ID,
            input_hash="5e" * 32,
            price_lovelace=PRICE,
            times=EscrowTerms(price_lovelace=PRICE).times(now_ms()),
            agent_identifier=agent_identifier,
        )
    )


def test_a_masumi_buyer_accepts_the_request(dev: DevEscrow) -> None:
    request = make_request(dev)
    segments = lz_decode(bytes.fromhex(request.blockchain_identifier)).split(".")
    assert len(segments) == 4  # V1: no smart contract address segment
    seller_id, purchaser_id, signature, key = segments
    assert purchaser_id == BUYER_ID
    assert len(seller_id) == 64 + len(AGENT_ID) and seller_id[64:] == AGENT_ID
    int(seller_id, 16)  # hex, as the decoder requires
    public_key = check_signature(signed_payload(request, AGENT_ID, seller_id), signature, key)
    assert public_key == dev.seller.verification_key.payload
    # sellerVKey is the payment key hash: blake2b-224 of the public key, 56 hex.
    assert request.seller_vkey == hashlib.blake2b(public_key, digest_size=28).hexdigest()
    assert request.agent_identifier == AGENT_ID
    # The COSE_Sign1's protected header names the seller's address (CIP-8).
    protected = cbor2.loads(cbor2.loads(bytes.fromhex(signature))[0])
    assert protected["address"] == dev.seller.address.to_primitive()


def test_a_tampered_request_fails_the_buyers_check(dev: DevEscrow) -> None:
    request = make_request(dev)
    seller_id, _, signature, key = lz_decode(bytes.fromhex(request.blockchain_identifier)).split(
        "."
    )
    later = request.model_copy(
        update={"times": request.times.model_copy(update={"unlock_time": 1})}
    )
    with pytest.raises(AssertionError):  # the payload differs: Mesh compares it first
        check_signature(signed_payload(later, AGENT_ID, seller_id), signature, key)
    message = cbor2.loads(bytes.fromhex(signature))
    message[3] = bytes(64)
    with pytest.raises(BadSignatureError):
        check_signature(
            signed_payload(request, AGENT_ID, seller_id), cbor2.dumps(message).hex(), key
        )


def test_the_request_is_deterministic_per_job(dev: DevEscrow) -> None:
    first = make_request(dev)
    assert make_request(dev) == first
    assert make_request(dev, "job-2").blockchain_identifier != first.blockchain_identifier


def test_the_lock_datum_carries_the_references(dev: DevEscrow) -> None:
    backend = dev.backend()
    request = make_request(dev)
    start = now_ms()
    backend.perform(EscrowAction.LOCK, request, start + 1_000, None)
    status = backend.read(request)
    assert status.state is EscrowState.FUNDS_LOCKED
    seller_id, purchaser_id, signature, key = lz_decode(
        bytes.fromhex(request.blockchain_identifier)
    ).split(".")
    datum = backend._escrow(request).datum
    assert datum is not None
    assert (
        datum.reference_key,
        datum.reference_signature,
        datum.seller_nonce,
        datum.buyer_nonce,
    ) == (
        bytes.fromhex(key),
        bytes.fromhex(signature),
        bytes.fromhex(seller_id),
        bytes.fromhex(purchaser_id),
    )
    # Another job's request never finds this escrow.
    assert backend.read(make_request(dev, "job-2")).state is EscrowState.NOT_LOCKED


def test_an_agent_without_identifier(dev: DevEscrow) -> None:
    made_up = make_request(dev, agent_identifier="")  # the dev ledger makes one up
    assert (
        len(made_up.agent_identifier) > 56
        and made_up.agent_identifier == make_request(dev, "job-2", "").agent_identifier
    )
    backend = dev.backend()
    backend.dev_identifiers = False  # as with Blockfrost
    with pytest.raises(EscrowError, match="has no Masumi agent identifier"):
        backend.create_payment_request(
            PaymentRequestInput(
                job_id="j",
                agent="paid-echo",
                identifier_from_purchaser=BUYER_ID,
                input_hash="5e" * 32,
                price_lovelace=PRICE,
                times=EscrowTerms(price_lovelace=PRICE).times(now_ms()),
            )
        )


@pytest.mark.parametrize(
    "text",
    ["", "a", "aaaaaaaaaaaaaaaaaaaa", "ab.cd.ef", "€uro 😀 mixed ünïcode", "x" * 5000],
)
def test_lzstring_round_trips_through_the_buyers_decoder(text: str) -> None:
    if text:
        assert lz_decode(compress_to_bytes(text)) == text
    else:  # JS: compressToUint8Array("") is the end mark alone
        assert compress_to_bytes(text) == bytes.fromhex("4000")


def test_an_odd_purchaser_identifier_is_refused(dev: DevEscrow) -> None:
    with pytest.raises(EscrowError, match="even number of hex characters"):
        dev.backend().create_payment_request(
            PaymentRequestInput(
                job_id="j",
                agent="paid-echo",
                identifier_from_purchaser=BUYER_ID[:-1],
                input_hash="5e" * 32,
                price_lovelace=PRICE,
                times=EscrowTerms(price_lovelace=PRICE).times(now_ms()),
                agent_identifier=AGENT_ID,
            )
        )
