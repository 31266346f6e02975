"""Wallets: an Ed25519 payment key and its enterprise address."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pycardano import (
    Address,
    Network,
    PaymentSigningKey,
    PaymentVerificationKey,
    VerificationKeyHash,
)

__all__ = ["Wallet"]


@dataclass(frozen=True)
class Wallet:
    """A payment key; the address has no staking part.

    Example:
        >>> w = Wallet.generate(Network.TESTNET)
        >>> str(w.address).startswith("addr_test")
        True
    """

    signing_key: PaymentSigningKey
    network: Network = Network.TESTNET

    @classmethod
    def generate(cls, network: Network = Network.TESTNET) -> Wallet:
        """A new random wallet."""
        return cls(PaymentSigningKey.generate(), network)

    @classmethod
    def load_or_create(cls, path: Path, network: Network = Network.TESTNET) -> Wallet:
        """Read a ``.skey`` file (cardano-cli JSON envelope), creating it when missing."""
        if path.exists():
            return cls(PaymentSigningKey.load(str(path)), network)
        path.parent.mkdir(parents=True, exist_ok=True)
        wallet = cls.generate(network)
        wallet.signing_key.save(str(path))
        path.chmod(0o600)
        return wallet

    @property
    def verification_key(self) -> PaymentVerificationKey:
        """The public key."""
        return PaymentVerificationKey.from_signing_key(self.signing_key)

    @property
    def key_hash(self) -> VerificationKeyHash:
        """The key hash the escrow script checks signatures against."""
        return self.verification_key.hash()

    @property
    def address(self) -> Address:
        """The wallet's enterprise address."""
        return Address(payment_part=self.key_hash, network=self.network)
