"""Raw CBOR reading: where each item of a transaction starts and ends, as submitted.

A node hashes the transaction body's bytes as it received them (the transaction id, which
every key witness signs) and the witness set's redeemer and datum bytes as received (the
script data hash); re-encoding a decoded transaction (pycardano's ``to_cbor``) can change
the bytes: definite or indefinite arrays and maps, chunked byte strings, sets with or
without tag 258, integer widths. This module finds those spans without re-encoding, and
checks the one rule of Plutus data that decoding hides: a byte string may hold at most 64
bytes in one piece (longer ones are indefinite-length strings of chunks).
"""

from __future__ import annotations

__all__ = ["CborError", "array_items", "map_items", "unchunked_data_bytes"]

MAX_DATA_BYTES = 64
BREAK = 0xFF


class CborError(ValueError):
    """Bytes that are not well-formed CBOR."""


def _constructor_tag(tag: int) -> bool:
    return 121 <= tag <= 127 or 1280 <= tag <= 1400 or tag == 102


def _head(data: bytes, pos: int) -> tuple[int, int | None, int]:
    """(major type, argument or None for indefinite length, position after the head)."""
    if pos >= len(data):
        raise CborError("unexpected end of input")
    first = data[pos]
    major, info = first >> 5, first & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    if 24 <= info <= 27:
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise CborError("unexpected end of input")
        return major, int.from_bytes(data[pos : pos + size], "big"), pos + size
    if info == 31 and major in (2, 3, 4, 5):
        return major, None, pos
    raise CborError(f"unsupported additional information {info} for major type {major}")


class _Scan:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.long: list[int] = []  # lengths of definite byte strings > 64 inside Plutus data

    def skip(self, pos: int, in_data: bool) -> int:
        """The position after the item at ``pos``."""
        data = self.data
        major, arg, pos = _head(data, pos)
        if major in (0, 1):
            return pos
        if major == 7:
            if arg is None:
                raise CborError("unexpected break")
            return pos
        if major in (2, 3):
            if arg is None:
                while self._peek(pos) != BREAK:
                    chunk_major, size, pos = _head(data, pos)
                    if chunk_major != major or size is None:
                        raise CborError("bad chunk in an indefinite-length string")
                    pos = self._within(pos + size)
                return pos + 1
            if major == 2 and in_data and arg > MAX_DATA_BYTES:
                self.long.append(arg)
            return self._within(pos + arg)
        if major in (4, 5):
            per_entry = 2 if major == 5 else 1
            if arg is None:
                while self._peek(pos) != BREAK:
                    for _ in range(per_entry):
                        pos = self.skip(pos, in_data)
                return pos + 1
            for _ in range(arg * per_entry):
                pos = self.skip(pos, in_data)
            return pos
        assert arg is not None  # major 6: a tag
        if arg == 24:  # CBOR in bytes: inline datums, reference scripts
            start = pos
            end = self.skip(pos, in_data)
            inner_major, size, body = _head(data, start)
            if inner_major == 2 and size is not None:
                inner = _Scan(data[body:end])
                inner.skip(0, False)
                self.long.extend(inner.long)
            return end
        return self.skip(pos, in_data or _constructor_tag(arg))

    def _peek(self, pos: int) -> int:
        if pos >= len(self.data):
            raise CborError("unexpected end of input")
        return self.data[pos]

    def _within(self, pos: int) -> int:
        if pos > len(self.data):
            raise CborError("unexpected end of input")
        return pos


def _container(data: bytes, pos: int, major: int) -> list[tuple[int, int]]:
    scan = _Scan(data)
    found_major, count, pos = _head(data, pos)
    if found_major != major:
        raise CborError(f"expected major type {major}, found {found_major}")
    per_entry = 2 if major == 5 else 1
    spans: list[tuple[int, int]] = []
    while (count is None and scan._peek(pos) != BREAK) or (
        count is not None and len(spans) < count * per_entry
    ):
        end = scan.skip(pos, False)
        spans.append((pos, end))
        pos = end
    return spans


def array_items(data: bytes, pos: int = 0) -> list[bytes]:
    """The bytes of each item of the array at ``pos``, exactly as encoded."""
    return [data[s:e] for s, e in _container(data, pos, 4)]


def map_items(data: bytes, pos: int = 0) -> list[tuple[bytes, bytes]]:
    """The (key, value) bytes of each entry of the map at ``pos``, exactly as encoded."""
    spans = _container(data, pos, 5)
    pairs = zip(spans[::2], spans[1::2], strict=True)
    return [(data[k[0] : k[1]], data[v[0] : v[1]]) for k, v in pairs]


def unchunked_data_bytes(data: bytes) -> list[int]:
    """Lengths of the byte strings over 64 bytes written in one piece inside Plutus data.

    Plutus data is recognised by its constructor tags (121-127, 1280-1400, 102), also
    inside tag-24 embedded CBOR (inline datums); a node refuses such a transaction.
    """
    scan = _Scan(data)
    end = scan.skip(0, False)
    if end != len(data):
        raise CborError(f"{len(data) - end} bytes after the item")
    return scan.long
