"""LZString's ``compressToUint8Array`` / ``decompressFromUint8Array``, as the JS package does them.

The Masumi payment service packs its blockchain identifier with the npm package ``lz-string``
(1.5): ``compress`` writes LZW codes into 16-bit "characters", least significant bit first,
and ``compressToUint8Array`` lays each character out big-endian. The PyPI ports are
unmaintained and have none of the Uint8Array pair, so this is written from the algorithm.
JS strings are UTF-16 code units: the text is handled as such, so non-BMP characters come
out as the JS package writes them.
"""

from __future__ import annotations

__all__ = ["compress_to_bytes", "decompress_from_bytes"]

_BITS = 16  # compress() packs 16 bits per output character


class _BitWriter:
    """LZString's output: values written least significant bit first, 16 bits a character."""

    def __init__(self) -> None:
        self.chars: list[int] = []
        self._val = 0
        self._pos = 0

    def write(self, value: int, bits: int) -> None:
        for _ in range(bits):
            self._val = (self._val << 1) | (value & 1)
            value >>= 1
            if self._pos == _BITS - 1:
                self.chars.append(self._val)
                self._val, self._pos = 0, 0
            else:
                self._pos += 1

    def flush(self) -> None:
        while True:
            self._val <<= 1
            if self._pos == _BITS - 1:
                self.chars.append(self._val & 0xFFFF)
                return
            self._pos += 1


def _units(text: str) -> list[str]:
    """``text`` as JS sees it: one entry per UTF-16 code unit."""
    raw = text.encode("utf-16-be", "surrogatepass")
    return [chr(int.from_bytes(raw[i : i + 2], "big")) for i in range(0, len(raw), 2)]


def _compress(text: str) -> list[int]:
    out = _BitWriter()
    dictionary: dict[str, int] = {}
    to_create: set[str] = set()
    enlarge_in, dict_size, num_bits = 2, 3, 2
    w = ""

    def emit(word: str) -> None:
        nonlocal enlarge_in, num_bits
        if word in to_create:
            code = ord(word[0])
            if code < 256:
                out.write(0, num_bits)
                out.write(code, 8)
            else:
                out.write(1, num_bits)
                out.write(code, 16)
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in, num_bits = 1 << num_bits, num_bits + 1
            to_create.discard(word)
        else:
            out.write(dictionary[word], num_bits)
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1

    for c in _units(text):
        if c not in dictionary:
            dictionary[c] = dict_size
            dict_size += 1
            to_create.add(c)
        wc = w + c
        if wc in dictionary:
            w = wc
            continue
        emit(w)
        dictionary[wc] = dict_size
        dict_size += 1
        w = c
    if w:
        emit(w)
    out.write(2, num_bits)  # end of stream
    out.flush()
    return out.chars


def compress_to_bytes(text: str) -> bytes:
    """``LZString.compressToUint8Array(text)``.

    Example:
        >>> compress_to_bytes("aaaa").hex()
        '218e4000'
    """
    return b"".join(c.to_bytes(2, "big") for c in _compress(text))


def decompress_from_bytes(data: bytes) -> str | None:
    """``LZString.decompressFromUint8Array(data)``: the text, or None where JS gives null/''.

    Example:
        >>> decompress_from_bytes(bytes.fromhex("218e4000"))
        'aaaa'
    """
    if len(data) % 2:
        return None
    chars = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if not chars:
        return None
    index, val, position = 1, chars[0], 1 << (_BITS - 1)

    def read(bits: int) -> int:
        nonlocal index, val, position
        result = 0
        for power in range(bits):
            bit = val & position
            position >>= 1
            if position == 0:
                position = 1 << (_BITS - 1)
                val = chars[index] if index < len(chars) else 0
                index += 1
            if bit:
                result |= 1 << power
        return result

    words: list[str] = ["", "", ""]
    first = read(2)
    if first == 2:
        return None
    w = chr(read(8 if first == 0 else 16))
    words.append(w)
    parts = [w]
    enlarge_in, num_bits = 4, 3
    while True:
        if index > len(chars):
            return None
        code = read(num_bits)
        if code == 2:
            return _join(parts)
        if code in (0, 1):
            words.append(chr(read(8 if code == 0 else 16)))
            code = len(words) - 1
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in, num_bits = 1 << num_bits, num_bits + 1
        if code < len(words) and code > 2:
            entry = words[code]
        elif code == len(words):
            entry = w + w[0]
        else:
            return None
        parts.append(entry)
        words.append(w + entry[0])
        enlarge_in -= 1
        w = entry
        if enlarge_in == 0:
            enlarge_in, num_bits = 1 << num_bits, num_bits + 1


def _join(parts: list[str]) -> str:
    """Code units back into a Python string (surrogate pairs joined)."""
    units = "".join(parts)
    raw = b"".join(ord(u).to_bytes(2, "big") for u in units)
    return raw.decode("utf-16-be", "surrogatepass")
