"""The Plutus V3 ScriptContext of a transaction, as the ledger builds it for a script.

Fields and encodings follow the Conway ledger: TxInfo has 16 fields, TxId is plain bytes,
inputs are sorted by (tx id, index), the validity range is converted from slots to POSIX
milliseconds (upper bound open), and the spending ScriptInfo carries the datum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pycardano import (
    Datum,
    RawPlutusData,
    Redeemer,
    RedeemerTag,
    Transaction,
    TransactionId,
    TransactionInput,
    TransactionOutput,
    Value,
)
from pycardano.hash import DatumHash

from durasumi.activities.escrow.plutus import Constr, PMap, address_to_data

__all__ = ["redeemer_list", "script_context", "sorted_inputs"]

NOTHING = Constr(1, [])
TRUE, FALSE = Constr(1, []), Constr(0, [])


def just(value: Any) -> Constr:
    """Haskell's ``Just``."""
    return Constr(0, [value])


def sorted_inputs(inputs: list[TransactionInput]) -> list[TransactionInput]:
    """Inputs in ledger order (redeemer indexes point into this order)."""
    return sorted(inputs, key=lambda i: (i.transaction_id.payload, i.index))


def out_ref(i: TransactionInput) -> Constr:
    """A V3 ``TxOutRef``."""
    return Constr(0, [i.transaction_id.payload, i.index])


def value_data(value: Value | int, *, with_ada: bool = True) -> PMap:
    """A ledger ``Value`` as a map of maps (lovelace under the empty policy)."""
    if isinstance(value, int):
        value = Value(value)
    pairs: list[tuple[Any, Any]] = []
    if with_ada or value.coin:
        pairs.append((b"", PMap([(b"", value.coin)])))
    for policy, assets in sorted(value.multi_asset.items(), key=lambda kv: kv[0].payload):
        tokens = [
            (name.payload, n) for name, n in sorted(assets.items(), key=lambda a: a[0].payload)
        ]
        pairs.append((policy.payload, PMap(tokens)))
    return PMap(pairs)


def datum_data(datum: Datum | None) -> Any:
    """Plutus data of an inline datum, as a tree the converters accept."""
    if isinstance(datum, RawPlutusData):
        return datum.data
    return datum


def tx_out(o: TransactionOutput) -> Constr:
    """A V3 ``TxOut``."""
    if o.datum is not None:
        datum = Constr(2, [datum_data(o.datum)])
    elif o.datum_hash is not None:
        datum = Constr(1, [o.datum_hash.payload])
    else:
        datum = Constr(0, [])
    script = o.script
    ref = NOTHING if script is None else just(_script_hash(script))
    return Constr(0, [address_to_data(o.address), value_data(o.amount), datum, ref])


def _script_hash(script: Any) -> bytes:
    from pycardano import plutus_script_hash, script_hash

    try:
        return plutus_script_hash(script).payload
    except Exception:  # native scripts
        return script_hash(script).payload


def redeemer_list(tx: Transaction) -> list[Redeemer]:
    """The transaction's redeemers as a list, whichever encoding the witness set used."""
    redeemers = tx.transaction_witness_set.redeemer
    if redeemers is None:
        return []
    if isinstance(redeemers, list):
        return list(redeemers)
    out: list[Redeemer] = []
    for key, value in redeemers.items():  # RedeemerMap: (tag, index) -> (data, ex units)
        r = Redeemer(value.data, value.ex_units)
        r.tag, r.index = key.tag, key.index
        out.append(r)
    return out


def script_context(
    tx: Transaction,
    resolve: Callable[[TransactionInput], TransactionOutput],
    redeemer: Redeemer,
    slot_to_posix: Callable[[int], int],
    *,
    tx_id: TransactionId | None = None,
) -> Constr:
    """The ScriptContext handed to the script that ``redeemer`` (a spend) unlocks.

    ``tx_id``: the transaction's id as the ledger took it (the hash of the body bytes as
    submitted); pycardano's re-encoding is hashed when it is not given.
    """
    body = tx.transaction_body
    inputs = sorted_inputs(list(body.inputs))
    refs = sorted_inputs(list(body.reference_inputs or []))
    lower = (
        Constr(0, [Constr(1, [slot_to_posix(body.validity_start)]), TRUE])
        if body.validity_start is not None
        else Constr(0, [Constr(0, []), TRUE])
    )
    upper = (
        Constr(0, [Constr(1, [slot_to_posix(body.ttl)]), FALSE])
        if body.ttl is not None
        else Constr(0, [Constr(2, []), TRUE])
    )
    signers = sorted(k.payload for k in (body.required_signers or []))
    all_redeemers = redeemer_list(tx)
    purposes = PMap(
        [
            (_purpose(r, inputs), r.data)
            for r in sorted(all_redeemers, key=lambda r: (r.tag.value if r.tag else 0, r.index))
        ]
    )
    datums = PMap(
        [
            (DatumHash(_datum_hash(d)).payload, datum_data(d))
            for d in (tx.transaction_witness_set.plutus_data or [])
        ]
    )
    info = Constr(
        0,
        [
            [Constr(0, [out_ref(i), tx_out(resolve(i))]) for i in inputs],
            [Constr(0, [out_ref(i), tx_out(resolve(i))]) for i in refs],
            [tx_out(o) for o in body.outputs],
            body.fee,
            value_data(Value(0, body.mint) if body.mint else 0, with_ada=False),
            [],
            PMap([]),
            Constr(0, [lower, upper]),
            signers,
            purposes,
            datums,
            (tx_id or tx.id).payload,
            PMap([]),
            [],
            NOTHING,
            NOTHING,
        ],
    )
    if redeemer.tag is not RedeemerTag.SPEND:
        raise ValueError("only spending scripts are evaluated")
    spent = inputs[redeemer.index]
    datum = resolve(spent).datum
    info_purpose = Constr(
        1, [out_ref(spent), NOTHING if datum is None else just(datum_data(datum))]
    )
    return Constr(0, [info, redeemer.data, info_purpose])


def _purpose(r: Redeemer, inputs: list[TransactionInput]) -> Constr:
    if r.tag is RedeemerTag.SPEND:
        return Constr(1, [out_ref(inputs[r.index])])
    raise ValueError(f"unsupported redeemer tag {r.tag}")


def _datum_hash(d: Any) -> bytes:
    from pycardano import datum_hash

    return datum_hash(d).payload


def resolver(
    utxos: Mapping[TransactionInput, TransactionOutput],
) -> Callable[[TransactionInput], TransactionOutput]:
    """A resolver over a UTxO map (KeyError for unknown inputs)."""
    return utxos.__getitem__
