"""RFC 8785 JSON Canonicalization Scheme (JCS), as MIP-004 requires for the input hash.

What differs from ``json.dumps(sort_keys=True)``: numbers are IEEE-754 doubles written the
way ECMAScript's ``Number.prototype.toString`` writes them (``1.0`` -> ``1``, ``1e2`` ->
``100``, ``-0.0`` -> ``0``, ``1e21`` -> ``1e+21``, integers beyond 2**53 rounded to the
nearest double), and object keys are sorted by their UTF-16 code units (a key with a
character outside the Basic Multilingual Plane sorts by its surrogates). Strings are
escaped as ``JSON.stringify`` does: only the quote, the backslash and control characters.

Pure and deterministic (no I/O): usable in workflow code. No PyPI dependency: the SDK's
base install stays small, and the rules are short.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

__all__ = ["canonicalize", "number_to_string"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def canonicalize(value: Any) -> str:
    """The RFC 8785 text of ``value`` (dicts, lists/tuples, str, int, float, bool, None).

    Raises:
        ValueError: for NaN or infinite numbers, integers too large for a double, lone
            surrogates, non-string keys or values of other types.

    Example:
        >>> canonicalize({"b": [1.0, 1e2, -0.0], "a": "€"})
        '{"a":"€","b":[1,100,0]}'
    """
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int | float):
        out.append(number_to_string(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"JSON object keys must be strings, not {type(key).__name__}")
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16)):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise ValueError(f"{type(value).__name__} is not a JSON value")


def _utf16(key: str) -> bytes:
    """Big-endian UTF-16: comparing these bytes compares the code units in order."""
    return key.encode("utf-16-be", "surrogatepass")


def _string(text: str) -> str:
    # The common case at C speed (a 20 MB result is hashed inside the job's workflow task,
    # which must finish within the SDK's 2 s deadlock timeout): json.dumps escapes exactly
    # the quote, the backslash and control characters, with the same short forms.
    if _SURROGATE.search(text) is None:
        return json.dumps(text, ensure_ascii=False)
    parts = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            parts.append(_ESCAPES[ch])
        elif code < 0x20:
            parts.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{code:04X} is not valid Unicode")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def number_to_string(number: int | float) -> str:
    """ECMAScript ``Number.prototype.toString`` of ``number`` as a double (RFC 8785 3.2.2.3).

    Example:
        >>> [number_to_string(x) for x in (1.0, 1e2, -0.0, 1e21, 1e-7, 2**53 + 1)]
        ['1', '100', '0', '1e+21', '1e-7', '9007199254740992']
    """
    try:
        x = float(number)
    except OverflowError:
        raise ValueError(f"{number} is too large for a JSON number (an IEEE double)") from None
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{number} is not a valid JSON number")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + number_to_string(-x)
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    _, digit_tuple, exp = Decimal(repr(x)).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exp += len(digit_tuple) - len(digits)
    k = len(digits)
    n = k + exp  # the value is 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
