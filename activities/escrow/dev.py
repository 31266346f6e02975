"""A funded escrow deployment on the offline ledger, for ``durasumi dev``, tests and bench.

Wallets (buyer, seller, fee, three admins) are ``.skey`` files under a folder, the ledger a
JSON file beside them; the first run funds the wallets and puts the applied escrow script
in a reference UTxO, later runs find everything where it was. Without a folder everything
lives in memory (tests). :meth:`DevEscrow.pay` is the dev buyer paying a job from its own
wallet, as an external buyer would (``durasumi pay JOB``).

The dev chain has a test stablecoin, ``tUSDM`` (6 decimals, like USDM) under a test
minting policy (a native script: the second admin's signature). The dev buyer's
:data:`BUYER_STABLECOIN` of it is a genesis allocation (so the chain's transaction log
starts with the platform's own); :func:`mint_stablecoin` mints more, in a minting
transaction the ledger checks against the policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pycardano import (
    Asset,
    AssetName,
    MultiAsset,
    ScriptPubkey,
    TransactionBuilder,
    TransactionOutput,
    Value,
    script_hash,
)

from durasumi.activities.escrow.chain import DirectChainBackend, OfflineChain
from durasumi.activities.escrow.offline.ledger import Ledger
from durasumi.activities.escrow.script import EscrowParams, applied_script, script_address
from durasumi.activities.escrow.wallet import Wallet
from durasumi.workflows.escrow_models import EscrowAction, EscrowState, EscrowStatus, PaymentRequest

__all__ = [
    "STABLECOIN_NAME",
    "DevEscrow",
    "dev_escrow",
    "is_deployed",
    "mint_stablecoin",
    "stablecoin_policy",
]

ADA = 1_000_000
BUYER_FUNDS = 100_000 * ADA
SELLER_FUNDS = 1_000 * ADA
SCRIPT_HOLDER_FUNDS = 100 * ADA
STABLECOIN_NAME = b"tUSDM"
USDM = 1_000_000  # one token in its smallest units (6 decimals)
BUYER_STABLECOIN = 100_000 * USDM
STABLECOIN_ADA = 2 * ADA  # the ADA the buyer's tUSDM output carries (part of BUYER_FUNDS)


@dataclass
class DevEscrow:
    """The offline chain with its wallets and escrow deployment."""

    ledger: Ledger
    buyer: Wallet
    seller: Wallet
    fee: Wallet
    admins: tuple[Wallet, Wallet, Wallet]
    params: EscrowParams
    script_ref: str
    stablecoin: str = ""  # unit of the test stablecoin: policy id + asset name (hex)

    def backend(
        self, *, platform_buyer: bool = True, min_confirmations: int = 1
    ) -> DirectChainBackend:
        """The direct-chain backend, with the buyer wallet when the platform holds it.

        ``min_confirmations`` above 1 only means something when the ledger makes blocks
        (``dev_escrow(block_ms=...)``); the wait for them looks every tenth of a second.
        """
        return DirectChainBackend(
            OfflineChain(self.ledger),
            self.params,
            self.script_ref,
            self.seller,
            self.buyer if platform_buyer else None,
            dev_identifiers=True,
            min_confirmations=min_confirmations,
            confirm_poll=0.1,
        )

    def pay(self, request: PaymentRequest, now_ms: int) -> EscrowStatus:
        """The dev buyer locks the price of ``request`` at ``now_ms``.

        Once only: an escrow already locked is left as it is and comes back with
        ``already_done``.

        Example:
            >>> dev = dev_escrow(Path(".durasumi/escrow"))  # doctest: +SKIP
            >>> dev.pay(request, int(time.time() * 1000)).state  # doctest: +SKIP
            <EscrowState.FUNDS_LOCKED: 'FundsLocked'>
        """
        backend = self.backend(platform_buyer=True)
        status = backend.read(request)
        if status.state is not EscrowState.NOT_LOCKED:
            return status.model_copy(update={"already_done": True})
        backend.perform(EscrowAction.LOCK, request, now_ms, None)
        return backend.read(request)

    def script_address(self) -> str:
        """The escrow address."""
        return str(script_address(applied_script(self.params), self.ledger.network))


def stablecoin_policy(minter: Wallet) -> ScriptPubkey:
    """The test stablecoin's minting policy: ``minter``'s signature."""
    return ScriptPubkey(minter.key_hash)


def mint_stablecoin(ledger: Ledger, minter: Wallet, holder: Wallet, amount: int, at_ms: int) -> str:
    """Mint ``amount`` tUSDM to ``holder`` in a transaction ``minter`` signs; returns its id."""
    policy = stablecoin_policy(minter)
    minted = MultiAsset({script_hash(policy): Asset({AssetName(STABLECOIN_NAME): amount})})
    builder = TransactionBuilder(ledger.at(at_ms))
    builder.add_input_address(minter.address)
    builder.mint = minted
    builder.native_scripts = [policy]
    out = TransactionOutput(holder.address, Value(2 * ADA, minted))
    builder.add_output(out)
    builder.ttl = ledger.slot_of(at_ms) + 600
    tx = builder.build_and_sign([minter.signing_key], change_address=minter.address)
    return ledger.submit(tx.to_cbor(), at_ms)


def is_deployed(folder: Path) -> bool:
    """Whether ``folder`` holds a dev escrow deployment (a platform worker made it)."""
    return (folder / "deployment.json").exists()


def dev_escrow(folder: Path | None = None, *, block_ms: int = 0) -> DevEscrow:
    """Load (or create and fund) the dev escrow deployment under ``folder``.

    ``block_ms``: the ledger makes a block that often (wall clock) and transactions gain
    confirmations with each; 0 makes every accepted transaction final at once.
    """
    if folder is None:
        wallets = [Wallet.generate() for _ in range(6)]
        ledger = Ledger(block_ms=block_ms)
    else:
        names = ("buyer", "seller", "fee", "admin1", "admin2", "admin3")
        wallets = [Wallet.load_or_create(folder / "wallets" / f"{n}.skey") for n in names]
        ledger = Ledger(folder / "ledger.json", block_ms=block_ms)
    buyer, seller, fee, a1, a2, a3 = wallets
    params = EscrowParams(
        required_admins=2,
        admin_key_hashes=(a1.key_hash.payload, a2.key_hash.payload, a3.key_hash.payload),
        fee_address=fee.address,
    )
    deployment = folder / "deployment.json" if folder is not None else None
    saved = json.loads(deployment.read_text()) if deployment and deployment.exists() else {}
    if saved:
        script_ref = saved["script_ref"]
    else:
        # The reference script sits at an admin's address: spenders read it, nobody spends it.
        script_ref = ledger.fund(a1.address, SCRIPT_HOLDER_FUNDS, script=applied_script(params))
        ledger.fund(buyer.address, BUYER_FUNDS - STABLECOIN_ADA)  # the rest comes with tUSDM
        ledger.fund(seller.address, SELLER_FUNDS)
    stablecoin = saved.get("stablecoin", "")
    if not stablecoin:  # also for a deployment made before the dev chain had one
        policy_id = script_hash(stablecoin_policy(a2))
        allocation = Asset({AssetName(STABLECOIN_NAME): BUYER_STABLECOIN})
        tokens = MultiAsset({policy_id: allocation})
        ledger.fund(buyer.address, Value(STABLECOIN_ADA, tokens))
        stablecoin = policy_id.payload.hex() + STABLECOIN_NAME.hex()
    if deployment is not None and saved != {"script_ref": script_ref, "stablecoin": stablecoin}:
        deployment.write_text(json.dumps({"script_ref": script_ref, "stablecoin": stablecoin}))
    return DevEscrow(ledger, buyer, seller, fee, (a1, a2, a3), params, script_ref, stablecoin)
