"""Agent signing keys: Ed25519, one per agent, derived from the platform's master secret.

Deriving (HKDF-SHA256 over the agent name) means no private key is ever stored in the
database; rotating the master secret rotates every agent's key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["Signer", "load_or_create_secret", "verify"]


class Signer:
    """Signs on behalf of agents.

    Example:
        >>> signer = Signer(bytes(32))
        >>> sig = signer.sign("echo", b"data")
        >>> verify(signer.public_key_hex("echo"), b"data", sig)
        True
    """

    def __init__(self, master_secret: bytes) -> None:
        if len(master_secret) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        self._secret = master_secret

    def _key(self, agent: str) -> Ed25519PrivateKey:
        seed = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"durasumi-agent-key", info=agent.encode()
        ).derive(self._secret)
        return Ed25519PrivateKey.from_private_bytes(seed)

    def public_key_hex(self, agent: str) -> str:
        """The agent's Ed25519 verification key, hex."""
        return self._key(agent).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def mac(self, data: bytes) -> bytes:
        """A 16-byte HMAC-SHA256 tag of ``data`` (for opaque tokens the API hands out)."""
        return hmac.new(self._secret, b"durasumi-token:" + data, hashlib.sha256).digest()[:16]

    def sign(self, agent: str, message: bytes) -> str:
        """Hex Ed25519 signature of ``message`` by the agent's key."""
        return self._key(agent).sign(message).hex()


def verify(public_key_hex: str, message: bytes, signature_hex: str) -> bool:
    """Check an agent's signature."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(signature_hex), message
        )
    except Exception:  # invalid key, signature or encoding all mean "not valid"
        return False
    return True


def load_or_create_secret(path: Path) -> bytes:
    """The dev master secret in ``path``, created (0600) on first use."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_text(secret.hex())
    return secret
