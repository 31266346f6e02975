"""Masumi's payment request format: the signed payload and the blockchain identifier.

What masumi-payment-service 0.28 (commit aca3833) builds in ``POST /payment`` and what its
purchase flow checks before a buyer locks anything (``src/routes/api/payments/index.ts``,
``src/routes/api/purchases/shared.ts``, ``packages/payment-core/src/blockchain-identifier.ts``):

- sellerId (the seller nonce) = sha256 hex of a fresh id, followed by the agentIdentifier
  (hex: the registry asset's policy id + asset name); purchaserId (the buyer nonce) = the
  identifier_from_purchaser;
- the seller wallet CIP-8-signs the 32 bytes of sha256 over the canonical JSON (sorted keys,
  no whitespace: npm ``canonical-json``) of the request payload below;
- blockchainIdentifier = hex of LZString ``compressToUint8Array`` of
  ``sellerId.purchaserId.signature.key`` (plus ``.smartContractAddress`` for V2);
- the lock's datum carries the COSE_Key, the COSE_Sign1, sellerId and purchaserId as bytes.

A buyer decodes the identifier, checks that purchaserId is theirs, that sellerId ends with
the agentIdentifier, that the COSE_Key's key hash is sellerVKey, and the signature over the
payload it rebuilds from the request (input hash, times, seller address, ...).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from durasumi.activities.escrow.lzstring import compress_to_bytes, decompress_from_bytes

__all__ = [
    "DecodedIdentifier",
    "decode_identifier",
    "encode_identifier",
    "is_agent_identifier",
    "payload_digest",
    "request_payload",
    "seller_id",
]

_HEX = re.compile(r"[0-9a-fA-F]+")
WEB3_CARDANO_V1 = "Web3CardanoV1"
WEB3_CARDANO_V2 = "Web3CardanoV2"


def is_agent_identifier(text: str) -> bool:
    """Whether ``text`` looks like a registry asset id: a 56-hex policy id plus an asset name."""
    return 58 <= len(text) <= 250 and len(text) % 2 == 0 and bool(_HEX.fullmatch(text))


def seller_id(fresh_id: str, agent_identifier: str) -> str:
    """The seller nonce: sha256 hex of ``fresh_id`` followed by the agent identifier."""
    return hashlib.sha256(fresh_id.encode()).hexdigest() + agent_identifier


def request_payload(
    *,
    input_hash: str,
    agent_identifier: str,
    purchaser_identifier: str,
    seller_identifier: str,
    pay_by_time: int,
    submit_result_time: int,
    unlock_time: int,
    external_dispute_unlock_time: int,
    seller_address: str,
    requested_funds: list[dict[str, str]] | None = None,
    payment_source_type: str = WEB3_CARDANO_V1,
    seller_return_address: str | None = None,
    smart_contract_address: str | None = None,
    supported_payment_source_index: int | None = None,
) -> dict[str, object]:
    """The object the seller signs (``buildSignedBlockchainIdentifierPayload``).

    Times are strings of POSIX milliseconds; ``RequestedFunds`` is null for fixed pricing.
    The V2 fields are present only for ``Web3CardanoV2``.
    """
    payload: dict[str, object] = {
        "inputHash": input_hash,
        "agentIdentifier": agent_identifier,
        "purchaserIdentifier": purchaser_identifier,
        "sellerIdentifier": seller_identifier,
        "RequestedFunds": requested_funds,
        "payByTime": str(pay_by_time),
        "submitResultTime": str(submit_result_time),
        "unlockTime": str(unlock_time),
        "externalDisputeUnlockTime": str(external_dispute_unlock_time),
        "sellerAddress": seller_address,
    }
    if payment_source_type == WEB3_CARDANO_V2:
        payload["sellerReturnAddress"] = seller_return_address
        payload["smartContractAddress"] = smart_contract_address
        if supported_payment_source_index is not None:
            payload["supportedPaymentSourceIndex"] = supported_payment_source_index
    return payload


def payload_digest(payload: dict[str, object]) -> bytes:
    """sha256 of the payload's canonical JSON: the 32 bytes the wallet signs.

    npm ``canonical-json`` is ``JSON.stringify`` with keys sorted by UTF-16 code units; for
    this payload (ASCII keys, strings, null, small integers) that is sorted compact JSON.
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def encode_identifier(
    seller_nonce: str,
    buyer_nonce: str,
    signature: str,
    key: str,
    smart_contract_address: str | None = None,
) -> str:
    """``generateBlockchainIdentifier``: the dotted segments, LZString-compressed, as hex."""
    segments = [seller_nonce, buyer_nonce, signature, key]
    if smart_contract_address is not None:
        segments.append(smart_contract_address)
    return compress_to_bytes(".".join(segments)).hex()


@dataclass(frozen=True)
class DecodedIdentifier:
    """The parts of a blockchain identifier (``decodeBlockchainIdentifier``)."""

    seller_id: str
    purchaser_id: str
    signature: str
    key: str
    agent_identifier: str | None
    smart_contract_address: str | None

    def datum_references(self) -> tuple[bytes, bytes, bytes, bytes]:
        """(reference key, reference signature, seller nonce, buyer nonce), as in the datum."""
        return (
            bytes.fromhex(self.key),
            bytes.fromhex(self.signature),
            bytes.fromhex(self.seller_id),
            bytes.fromhex(self.purchaser_id),
        )


def decode_identifier(blockchain_identifier: str) -> DecodedIdentifier | None:
    """The identifier's parts, or None where the payment service's decoder refuses it."""
    try:
        text = decompress_from_bytes(bytes.fromhex(blockchain_identifier))
    except ValueError:
        return None
    if text is None:
        return None
    parts = text.split(".")
    if len(parts) not in (4, 5):
        return None
    seller, purchaser, signature, key = parts[:4]
    if not (_HEX.fullmatch(seller) and _HEX.fullmatch(purchaser)):
        return None
    address = parts[4] if len(parts) == 5 else None
    if address is not None and (len(address) > 250 or not address.startswith("addr")):
        return None
    return DecodedIdentifier(
        seller_id=seller,
        purchaser_id=purchaser,
        signature=signature,
        key=key,
        agent_identifier=seller[64:] or None,
        smart_contract_address=address,
    )
