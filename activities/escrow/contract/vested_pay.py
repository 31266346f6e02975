# OpShin source of durasumi's escrow validator (Plutus V3), compiled by
# `python -m activities.escrow.contract` into script.cbor. It is not imported at run time.
#
# Masumi escrow V1 semantics: the 16-field datum, the 7 redeemers, the state machine,
# signers, deadlines, cooldowns, the fee output and the continuing-output rules.
# Parameters (applied per deployment): required admin signatures, admin key hashes, fee
# address, fee in permille, cooldown period (ms).
from opshin.prelude import *
from opshin.std.integrity import check_integrity


@dataclass()
class FundsLocked(PlutusData):
    CONSTR_ID = 0


@dataclass()
class ResultSubmitted(PlutusData):
    CONSTR_ID = 1


@dataclass()
class RefundRequested(PlutusData):
    CONSTR_ID = 2


@dataclass()
class Disputed(PlutusData):
    CONSTR_ID = 3


State = Union[FundsLocked, ResultSubmitted, RefundRequested, Disputed]


@dataclass()
class EscrowDatum(PlutusData):
    CONSTR_ID = 0
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
    state: State


@dataclass()
class Withdraw(PlutusData):
    CONSTR_ID = 0


@dataclass()
class SetRefundRequested(PlutusData):
    CONSTR_ID = 1


@dataclass()
class UnSetRefundRequested(PlutusData):
    CONSTR_ID = 2


@dataclass()
class WithdrawRefund(PlutusData):
    CONSTR_ID = 3


@dataclass()
class WithdrawDisputed(PlutusData):
    CONSTR_ID = 4


@dataclass()
class SubmitResult(PlutusData):
    CONSTR_ID = 5


@dataclass()
class AuthorizeRefund(PlutusData):
    CONSTR_ID = 6


Action = Union[
    Withdraw,
    SetRefundRequested,
    UnSetRefundRequested,
    WithdrawRefund,
    WithdrawDisputed,
    SubmitResult,
    AuthorizeRefund,
]


def key_hash(address: Address) -> bytes:
    cred = address.payment_credential
    assert isinstance(cred, PubKeyCredential), "party address must be a key address"
    return cred.credential_hash


def signed_by(signatories: List[bytes], party: Address) -> bool:
    return key_hash(party) in signatories


def lower_time(range: POSIXTimeRange) -> int:
    limit = range.lower_bound.limit
    assert isinstance(limit, FinitePOSIXTime), "validity lower bound must be finite"
    return limit.time


def upper_time(range: POSIXTimeRange) -> int:
    limit = range.upper_bound.limit
    assert isinstance(limit, FinitePOSIXTime), "validity upper bound must be finite"
    return limit.time


def empty(b: bytes) -> bool:
    return len(b) == 0


def quantity(outputs: List[TxOut], policy: bytes, name: bytes) -> int:
    return sum([o.value.get(policy, {b"": 0}).get(name, 0) for o in outputs])


def covers(outputs: List[TxOut], required: Value, permille: int, divisor: int) -> bool:
    # every asset of `required`, times permille / divisor (rounded down), is paid to `outputs`
    ok = True
    for policy, tokens in required.items():
        for name, amount in tokens.items():
            if quantity(outputs, policy, name) < amount * permille // divisor:
                ok = False
    return ok


def tagged(outputs: List[TxOut], address: Address, tag: OutputDatum) -> List[TxOut]:
    return [o for o in outputs if o.address == address and o.datum == tag]


def continuing(d: EscrowDatum, result_hash: bytes, seller_cd: int, buyer_cd: int, state: State) -> EscrowDatum:
    return EscrowDatum(
        d.buyer,
        d.seller,
        d.reference_key,
        d.reference_signature,
        d.seller_nonce,
        d.buyer_nonce,
        d.collateral_return_lovelace,
        d.input_hash,
        result_hash,
        d.pay_by_time,
        d.submit_result_time,
        d.unlock_time,
        d.external_dispute_unlock_time,
        seller_cd,
        buyer_cd,
        state,
    )


def validator(
    required_admins: int,
    admin_vks: List[bytes],
    fee_address: Address,
    fee_permille: int,
    cooldown_period: int,
    context: ScriptContext,
) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "only spending is allowed"
    own_ref = purpose.tx_out_ref
    tx = context.transaction
    own_input = own_spent_utxo(tx.inputs, purpose)
    script_address = own_input.address
    assert (
        len([i for i in tx.inputs if i.resolved.address == script_address]) == 1
    ), "exactly one script input"
    script_outputs = [o for o in tx.outputs if o.address == script_address]
    assert len(script_outputs) <= 1, "at most one script output"
    for o in script_outputs:
        assert isinstance(o.reference_script, NoScriptHash), "no reference script at the script"
    own_datum = own_input.datum
    assert isinstance(own_datum, SomeOutputDatum), "inline datum required"
    d: EscrowDatum = own_datum.datum
    now = upper_time(tx.validity_range)
    state = d.state
    redeemer: Action = context.redeemer
    # the real V1 validator decodes its redeemer strictly: a known constructor, no fields
    check_integrity(redeemer)
    signers = tx.signatories
    if isinstance(redeemer, Withdraw):
        assert signed_by(signers, d.seller), "seller signature required"
        assert isinstance(state, ResultSubmitted), "state must be ResultSubmitted"
        assert not empty(d.result_hash), "no result"
        assert lower_time(tx.validity_range) >= d.unlock_time, "before unlock time"
        tag: OutputDatum = SomeOutputDatum(own_ref)
        fee = tagged(tx.outputs, fee_address, tag)
        assert covers(fee, own_input.value, fee_permille, 1000), "fee output too small"
        returned = tagged(tx.outputs, d.buyer, tag)
        assert (
            quantity(returned, b"", b"") >= d.collateral_return_lovelace
        ), "collateral return too small"
    elif isinstance(redeemer, WithdrawRefund):
        assert signed_by(signers, d.buyer), "buyer signature required"
        assert isinstance(state, FundsLocked) or isinstance(
            state, RefundRequested
        ), "state must be FundsLocked or RefundRequested"
        assert empty(d.result_hash), "a result was submitted"
        assert lower_time(tx.validity_range) >= d.submit_result_time, "before submit result time"
    elif isinstance(redeemer, WithdrawDisputed):
        assert isinstance(state, Disputed), "state must be Disputed"
        assert not empty(d.result_hash), "no result"
        assert lower_time(tx.validity_range) >= d.external_dispute_unlock_time, "too early"
        assert required_admins > 0 and len(admin_vks) >= 1, "misconfigured admins"
        assert (
            len([vk for vk in admin_vks if vk in signers]) >= required_admins
        ), "not enough admin signatures"
    else:
        assert len(script_outputs) == 1, "a continuing output is required"
        out = script_outputs[0]
        assert covers([out], own_input.value, 1, 1), "locked value not preserved"
        new_datum = out.datum
        assert isinstance(new_datum, SomeOutputDatum), "inline datum required"
        new: EscrowDatum = new_datum.datum
        check_integrity(new)
        if isinstance(redeemer, SubmitResult):
            assert signed_by(signers, d.seller), "seller signature required"
            assert lower_time(tx.validity_range) >= d.seller_cooldown_time, "seller cooldown"
            assert now < d.submit_result_time or (
                not empty(d.result_hash) and now < d.external_dispute_unlock_time
            ), "too late to submit a result"
            assert not empty(new.result_hash), "empty result hash"
            if isinstance(state, FundsLocked) or isinstance(state, ResultSubmitted):
                next_state: State = ResultSubmitted()
            else:
                next_state = Disputed()
            assert new.seller_cooldown_time >= now + cooldown_period, "seller cooldown not set"
            assert new == continuing(
                d, new.result_hash, new.seller_cooldown_time, 0, next_state
            ), "datum changed"
        elif isinstance(redeemer, SetRefundRequested):
            assert signed_by(signers, d.buyer), "buyer signature required"
            assert lower_time(tx.validity_range) >= d.buyer_cooldown_time, "buyer cooldown"
            assert now < d.unlock_time, "too late to request a refund"
            assert not isinstance(state, RefundRequested), "refund already requested"
            if empty(d.result_hash):
                next_state2: State = RefundRequested()
            else:
                next_state2 = Disputed()
            assert new.buyer_cooldown_time >= now + cooldown_period, "buyer cooldown not set"
            assert new == continuing(
                d, d.result_hash, 0, new.buyer_cooldown_time, next_state2
            ), "datum changed"
        elif isinstance(redeemer, UnSetRefundRequested):
            assert signed_by(signers, d.buyer), "buyer signature required"
            assert lower_time(tx.validity_range) >= d.buyer_cooldown_time, "buyer cooldown"
            assert isinstance(state, RefundRequested) or isinstance(
                state, Disputed
            ), "no refund request"
            if empty(d.result_hash):
                next_state3: State = FundsLocked()
            else:
                next_state3 = ResultSubmitted()
            assert new.buyer_cooldown_time >= now + cooldown_period, "buyer cooldown not set"
            assert new == continuing(
                d, d.result_hash, 0, new.buyer_cooldown_time, next_state3
            ), "datum changed"
        elif isinstance(redeemer, AuthorizeRefund):
            assert signed_by(signers, d.seller), "seller signature required"
            assert lower_time(tx.validity_range) >= d.seller_cooldown_time, "seller cooldown"
            assert isinstance(state, Disputed), "state must be Disputed"
            assert new.seller_cooldown_time >= now + cooldown_period, "seller cooldown not set"
            assert new == continuing(
                d, b"", new.seller_cooldown_time, 0, RefundRequested()
            ), "datum changed"
        else:
            assert False, "unknown redeemer"
