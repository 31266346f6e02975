"""CIP-8 message signing (COSE_Sign1 + COSE_Key), the way a Cardano wallet's signData does it.

The Masumi payment service signs its payment requests with Mesh's ``signData`` and buyers
check them with Mesh's ``checkSignature``: the payload is the data's bytes (a hex string is
taken as the bytes it spells), unhashed; the protected header names the algorithm (EdDSA),
the public key and the signing address; the COSE_Sign1 is untagged. pycardano's
``cip.cip8.sign`` always signs the UTF-8 text of its message, which a ``checkSignature``
over a hex digest refuses, hence this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2
from pycardano import Address, PaymentSigningKey

__all__ = ["DataSignature", "sign_data"]

_ALG, _KID, _EDDSA = 1, 4, -8
# COSE_Key (RFC 8152 section 13.2): kty OKP, alg EdDSA, crv Ed25519, x = the public key.
_KTY, _KEY_ALG, _CRV, _X, _OKP, _ED25519 = 1, 3, -1, -2, 1, 6


@dataclass(frozen=True)
class DataSignature:
    """A CIP-30 ``DataSignature``: both parts as hex."""

    signature: str
    key: str


def sign_data(payload: bytes, signing_key: PaymentSigningKey, address: Address) -> DataSignature:
    """Sign ``payload`` as ``address``'s owner (CIP-8 COSE_Sign1, payload not hashed).

    Ed25519 is deterministic: the same payload and key give the same signature.
    """
    public_key = signing_key.to_verification_key().payload
    protected = cbor2.dumps({_ALG: _EDDSA, _KID: public_key, "address": address.to_primitive()})
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    signature = signing_key.sign(to_sign)
    message = cbor2.dumps([protected, {"hashed": False}, payload, signature])
    key = cbor2.dumps({_KTY: _OKP, _KEY_ALG: _EDDSA, _CRV: _ED25519, _X: public_key})
    return DataSignature(signature=message.hex(), key=key.hex())
