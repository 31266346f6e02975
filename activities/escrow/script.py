"""The escrow validator as data: the compiled script, its parameters and its datum types.

The OpShin source is ``contract/vested_pay.py``; ``contract/script.cbor`` holds its compiled,
unapplied UPLC (flat, hex) and ``contract/script.hash`` that script's hash. A deployment
applies its parameters (admins, fee address, fee permille, cooldown) with ``uplc``, which
gives the script whose hash is the escrow address. Against a real chain spend with the
applied script fetched from chain (a reference input), never one re-derived here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cbor2
import uplc
import uplc.ast
from pycardano import (
    Address,
    Network,
    PlutusV3Script,
    RawPlutusData,
    ScriptHash,
    plutus_script_hash,
)
from pycardano.serialization import default_encoder

from durasumi.activities.escrow.plutus import (
    Constr,
    address_to_data,
    data_to_address,
    deep_recursion,
    to_primitive,
    to_uplc,
)

__all__ = [
    "CONTRACT_DIR",
    "Action",
    "EscrowDatum",
    "EscrowParams",
    "State",
    "applied_script",
    "compile_contract",
    "compiled_script",
    "script_address",
    "script_hash",
]

CONTRACT_DIR = Path(__file__).resolve().parent / "contract"
SOURCE = CONTRACT_DIR / "vested_pay.py"
SCRIPT_FILE = CONTRACT_DIR / "script.cbor"
HASH_FILE = CONTRACT_DIR / "script.hash"


class State:
    """On-chain escrow states (constructor index of the datum's last field)."""

    FUNDS_LOCKED = 0
    RESULT_SUBMITTED = 1
    REFUND_REQUESTED = 2
    DISPUTED = 3

    NAMES = ("FundsLocked", "ResultSubmitted", "RefundRequested", "Disputed")


class Action:
    """Redeemer constructor indexes, in the V1 order."""

    WITHDRAW = 0
    SET_REFUND_REQUESTED = 1
    UNSET_REFUND_REQUESTED = 2
    WITHDRAW_REFUND = 3
    WITHDRAW_DISPUTED = 4
    SUBMIT_RESULT = 5
    AUTHORIZE_REFUND = 6

    NAMES = (
        "Withdraw",
        "SetRefundRequested",
        "UnSetRefundRequested",
        "WithdrawRefund",
        "WithdrawDisputed",
        "SubmitResult",
        "AuthorizeRefund",
    )

    @staticmethod
    def redeemer(action: int) -> RawPlutusData:
        """The redeemer data of an action (a constructor with no fields)."""
        return Constr(action, []).raw()


@dataclass(frozen=True)
class EscrowDatum:
    """The V1 datum: 16 fields, constructor 0, in the protocol's order."""

    buyer: Address
    seller: Address
    reference_key: bytes
    reference_signature: bytes
    seller_nonce: bytes
    buyer_nonce: bytes
    collateral_return_lovelace: int
    input_hash: bytes
    result_hash: bytes
    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int
    seller_cooldown_time: int
    buyer_cooldown_time: int
    state: int

    def to_data(self) -> RawPlutusData:
        """The inline datum."""
        return Constr(
            0,
            [
                address_to_data(self.buyer),
                address_to_data(self.seller),
                self.reference_key,
                self.reference_signature,
                self.seller_nonce,
                self.buyer_nonce,
                self.collateral_return_lovelace,
                self.input_hash,
                self.result_hash,
                self.pay_by_time,
                self.submit_result_time,
                self.unlock_time,
                self.external_dispute_unlock_time,
                self.seller_cooldown_time,
                self.buyer_cooldown_time,
                Constr(self.state, []),
            ],
        ).raw()

    @classmethod
    def from_data(cls, data: object, network: Network) -> EscrowDatum:
        """Decode an inline datum; ValueError if it is not a V1 escrow datum."""
        c = Constr.parse(data)
        if c.tag != 0 or len(c.fields) != 16:
            raise ValueError("not an escrow datum (constructor 0 with 16 fields)")
        f = c.fields
        state = Constr.parse(f[15])
        if state.tag > State.DISPUTED or state.fields:
            raise ValueError("unknown escrow state")
        ints = [f[i] for i in (6, *range(9, 15))]
        blobs = [f[i] for i in (2, 3, 4, 5, 7, 8)]
        if not all(isinstance(i, int) for i in ints) or not all(
            isinstance(b, bytes) for b in blobs
        ):
            raise ValueError("escrow datum fields have the wrong types")
        return cls(
            buyer=data_to_address(f[0], network),
            seller=data_to_address(f[1], network),
            reference_key=f[2],
            reference_signature=f[3],
            seller_nonce=f[4],
            buyer_nonce=f[5],
            collateral_return_lovelace=f[6],
            input_hash=f[7],
            result_hash=f[8],
            pay_by_time=f[9],
            submit_result_time=f[10],
            unlock_time=f[11],
            external_dispute_unlock_time=f[12],
            seller_cooldown_time=f[13],
            buyer_cooldown_time=f[14],
            state=state.tag,
        )

    def with_changes(self, **changes: object) -> EscrowDatum:
        """A copy with some fields replaced (the continuing output's datum)."""
        values = {**self.__dict__, **changes}
        return EscrowDatum(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EscrowParams:
    """A deployment's parameters, applied to the compiled script in this order."""

    required_admins: int
    admin_key_hashes: tuple[bytes, ...]
    fee_address: Address
    fee_permille: int = 50
    cooldown_ms: int = 7 * 60 * 1000

    def as_data(self) -> list[object]:
        """The parameters as Plutus data values."""
        return [
            self.required_admins,
            list(self.admin_key_hashes),
            address_to_data(self.fee_address),
            self.fee_permille,
            self.cooldown_ms,
        ]


def compile_contract() -> bytes:
    """Compile the OpShin source to flat UPLC (slow: about half a minute).

    The result is deterministic, so ``contract/script.cbor`` can be checked against it.
    """
    from opshin import builder, compiler  # the compiler is only needed here
    from opshin.compiler_config import DEFAULT_CONFIG, OPT_O3_CONFIG

    deep_recursion()
    source = SOURCE.read_text()
    program = builder.compile(
        compiler.parse(source, filename=SOURCE.name),
        contract_filename=SOURCE.name,
        config=DEFAULT_CONFIG.update(OPT_O3_CONFIG).update(remove_trace=False),
    )
    return bytes(uplc.flatten(program))


@lru_cache(maxsize=1)
def compiled_script() -> PlutusV3Script:
    """The committed, unapplied script."""
    return PlutusV3Script(bytes.fromhex(SCRIPT_FILE.read_text().strip()))


def applied_script(params: EscrowParams) -> PlutusV3Script:
    """The script with a deployment's parameters applied."""
    key = cbor2.dumps(to_primitive(params.as_data()), default=default_encoder)
    if key not in _APPLIED:
        deep_recursion()
        program = uplc.unflatten(bytes(compiled_script()))
        term = program.term
        for value in params.as_data():
            term = uplc.ast.Apply(term, to_uplc(value))
        _APPLIED[key] = PlutusV3Script(uplc.flatten(uplc.ast.Program(program.version, term)))
    return _APPLIED[key]


_APPLIED: dict[bytes, PlutusV3Script] = {}


def script_address(script: PlutusV3Script, network: Network) -> Address:
    """The enterprise address of a spending script."""
    return Address(payment_part=plutus_script_hash(script), network=network)


def script_hash(script: PlutusV3Script) -> ScriptHash:
    """The script's hash (its policy id / credential)."""
    return plutus_script_hash(script)
