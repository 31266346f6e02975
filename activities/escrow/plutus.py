"""Plutus data without schema classes: constructors, maps, and the ledger's address shape.

The escrow code speaks to two libraries with different data types: pycardano (inline datums,
redeemers: ``RawPlutusData`` over CBOR tags) and uplc (the evaluator's ``PlutusData`` AST).
``Constr`` and ``PMap`` are the one tree both are made from.

Byte strings longer than 64 bytes are written as indefinite-length strings of 64-byte
chunks (pycardano's ``ByteString``): the ledger's Plutus data decoder refuses a longer
definite-length one, although a script evaluated on decoded data would never notice.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2
import frozendict
import uplc.ast as u
from frozenlist import FrozenList
from pycardano import (
    Address,
    IndefiniteList,
    Network,
    PlutusData,
    RawPlutusData,
    ScriptHash,
    VerificationKeyHash,
)
from pycardano.serialization import ByteString

__all__ = [
    "MAX_BYTES_CHUNK",
    "ChunkedData",
    "Constr",
    "PMap",
    "address_to_data",
    "data_to_address",
    "deep_recursion",
    "to_uplc",
]

# uplc decodes and evaluates recursively; the escrow script nests deeper than Python's default.
RECURSION_LIMIT = 20_000
# the longest byte string Plutus data may hold in one piece (longer ones are chunked)
MAX_BYTES_CHUNK = 64


def deep_recursion() -> None:
    """Let uplc recurse as deep as the escrow script needs."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


@dataclass(frozen=True)
class Constr:
    """A constructor application: ``tag`` and its fields."""

    tag: int
    fields: Sequence[Any] = field(default_factory=list)

    def primitive(self) -> cbor2.CBORTag:
        """The CBOR-tag form pycardano and the ledger use."""
        values = [to_primitive(f) for f in self.fields]
        if self.tag < 7:
            return cbor2.CBORTag(121 + self.tag, values)
        if self.tag < 128:
            return cbor2.CBORTag(1280 + self.tag - 7, values)
        return cbor2.CBORTag(102, [self.tag, values])

    def raw(self) -> RawPlutusData:
        """As pycardano datum/redeemer data (long byte strings chunked)."""
        return ChunkedData(self.primitive())

    @staticmethod
    def parse(data: Any) -> Constr:
        """Read a constructor from pycardano or CBOR-tag data; ValueError if it is not one."""
        if isinstance(data, Constr):
            return data
        if isinstance(data, RawPlutusData):
            data = data.data
        elif isinstance(data, PlutusData):
            data = data.to_primitive()
        if not isinstance(data, cbor2.CBORTag):
            raise ValueError(f"expected a constructor, got {type(data).__name__}")
        if 121 <= data.tag <= 127:
            tag, values = data.tag - 121, data.value
        elif 1280 <= data.tag <= 1400:
            tag, values = data.tag - 1280 + 7, data.value
        elif data.tag == 102:
            tag, values = data.value
        else:
            raise ValueError(f"not a constructor tag: {data.tag}")
        return Constr(tag, [_unwrap(v) for v in values])

    @staticmethod
    def to_primitive(value: Any) -> Any:
        """Any tree of Constr / PMap / list / int / bytes as CBOR primitives."""
        return to_primitive(value)


class ChunkedData(RawPlutusData):
    """pycardano's raw Plutus data that keeps its long byte strings chunked.

    pycardano copies outputs while it builds (``deepcopy``), and its data's copy is a
    CBOR round trip, which joins every chunked byte string; this class writes them
    chunked again whenever it is encoded, so no copy loses the chunking.
    """

    def to_primitive(self) -> Any:
        """CBOR primitives with byte strings over 64 bytes as pycardano ``ByteString``."""
        return RawPlutusData(to_primitive(self.data)).to_primitive()

    def __deepcopy__(self, memo: dict[int, Any]) -> ChunkedData:
        return ChunkedData(to_primitive(self.data))


@dataclass(frozen=True)
class PMap:
    """A Plutus map as ordered pairs (keys may be constructors, which are not hashable)."""

    pairs: Sequence[tuple[Any, Any]] = ()


def _unwrap(value: Any) -> Any:
    if isinstance(value, ByteString):
        return value.value
    if isinstance(value, cbor2.CBORTag):
        return Constr.parse(value)
    if isinstance(value, (list, tuple, IndefiniteList, FrozenList)):
        return [_unwrap(v) for v in value]
    return value


def to_primitive(value: Any) -> Any:
    """CBOR primitives for a data tree."""
    if isinstance(value, Constr):
        return value.primitive()
    if isinstance(value, (bool,)):
        raise TypeError("booleans are not Plutus data")
    if isinstance(value, bytes):
        return ByteString(value) if len(value) > MAX_BYTES_CHUNK else value
    if isinstance(value, ByteString):
        return value if len(value.value) > MAX_BYTES_CHUNK else value.value
    if isinstance(value, int):
        return value
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, to_primitive(value.value))
    if isinstance(value, dict):
        return {_hashable(to_primitive(k)): to_primitive(v) for k, v in value.items()}
    if isinstance(value, RawPlutusData):
        return to_primitive(value.data)
    if isinstance(value, PlutusData):
        return to_primitive(value.to_primitive())
    if isinstance(value, (list, tuple, IndefiniteList, FrozenList)):
        return [to_primitive(v) for v in value]
    if isinstance(value, PMap):
        return {_hashable(to_primitive(k)): to_primitive(v) for k, v in value.pairs}
    raise TypeError(f"not Plutus data: {type(value).__name__}")


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, _hashable(value.value))
    return value


def to_uplc(value: Any) -> u.PlutusData:
    """The evaluator's data AST for a data tree (no CBOR round trip)."""
    if isinstance(value, Constr):
        return u.PlutusConstr(value.tag, FrozenList([to_uplc(f) for f in value.fields]))
    if isinstance(value, bool):
        raise TypeError("booleans are not Plutus data")
    if isinstance(value, int):
        return u.PlutusInteger(value)
    if isinstance(value, bytes):
        return u.PlutusByteString(value)
    if isinstance(value, ByteString):
        return u.PlutusByteString(value.value)
    if isinstance(value, (list, tuple, IndefiniteList, FrozenList)):
        return u.PlutusList(FrozenList([to_uplc(v) for v in value]))
    if isinstance(value, PMap):
        return u.PlutusMap(frozendict.frozendict({to_uplc(k): to_uplc(v) for k, v in value.pairs}))
    if isinstance(value, (cbor2.CBORTag, RawPlutusData, PlutusData)):
        return u.data_from_cbortag(_lists(to_primitive(value)))
    if isinstance(value, dict):
        return u.PlutusMap(
            frozendict.frozendict({to_uplc(k): to_uplc(v) for k, v in value.items()})
        )
    raise TypeError(f"not Plutus data: {type(value).__name__}")


def _lists(value: Any) -> Any:
    if isinstance(value, ByteString):
        return value.value
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, _lists(value.value))
    if isinstance(value, (list, tuple, IndefiniteList, FrozenList)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def _credential(part: Any) -> Constr:
    if isinstance(part, VerificationKeyHash):
        return Constr(0, [part.payload])
    if isinstance(part, ScriptHash):
        return Constr(1, [part.payload])
    raise ValueError(f"unsupported credential {part!r}")


def address_to_data(address: Address) -> Constr:
    """A Shelley address as the ledger's Plutus ``Address`` (pointer addresses unsupported)."""
    staking = (
        Constr(1, [])
        if address.staking_part is None
        else Constr(0, [Constr(0, [_credential(address.staking_part)])])
    )
    return Constr(0, [_credential(address.payment_part), staking])


def _part(c: Constr) -> VerificationKeyHash | ScriptHash:
    payload = c.fields[0]
    if not isinstance(payload, bytes):
        raise ValueError("credential hash must be bytes")
    return VerificationKeyHash(payload) if c.tag == 0 else ScriptHash(payload)


def data_to_address(data: Any, network: Network) -> Address:
    """The inverse of :func:`address_to_data`."""
    c = data if isinstance(data, Constr) else Constr.parse(data)
    payment = Constr.parse(c.fields[0]) if not isinstance(c.fields[0], Constr) else c.fields[0]
    staking_c = c.fields[1] if isinstance(c.fields[1], Constr) else Constr.parse(c.fields[1])
    staking = None
    if staking_c.tag == 0:
        inner = staking_c.fields[0]
        if inner.tag != 0:
            raise ValueError("pointer staking credentials are not supported")
        staking = _part(inner.fields[0])
    return Address(payment_part=_part(payment), staking_part=staking, network=network)
