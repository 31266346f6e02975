"""MIP-004 hashes: RFC 8785 for inputs, the result-hash rules buyers verify, the revision's chain.

Golden values: RFC 8785's published examples (section 3.2.3's sorting example, section
3.2.4's sample object, Appendix B's number samples), and result hashes computed by a second
implementation written here from the rules (the masumi package's JSON escaping done by hand).
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from durasumi.workflows.ids import (
    ResultHashRule,
    canonical_json,
    input_hash,
    parse_result_hash_rules,
    result_hash,
    result_text,
)
from durasumi.workflows.jcs import canonicalize

# RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_rfc8785_number_samples(bits: str, text: str) -> None:
    (number,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonicalize([number]) == f"[{text}]"


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000"])
def test_rfc8785_refuses_nan_and_infinity(bits: str) -> None:
    (number,) = struct.unpack(">d", bytes.fromhex(bits))
    with pytest.raises(ValueError, match="not a valid JSON number"):
        canonicalize(number)


def test_rfc8785_sorting_example() -> None:
    # Section 3.2.3: keys sort by UTF-16 code units (the emoji's surrogates before U+FB33).
    data = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    expected = "{" + ",".join(
        f'"{k if k != chr(13) else chr(92) + "r"}":"{data[k]}"' for k in order
    )
    assert canonicalize(data) == expected + "}"


def test_rfc8785_sample_object() -> None:
    # Section 3.2.4: the input, and its canonical form (UTF-8 of the RFC's hex dump).
    data = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    assert canonicalize(data) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_input_hash_is_jcs() -> None:
    ident = "abcdef0123456789"
    # Where sorted compact JSON (the old rule, and masumi-py) differs from JCS:
    data = {"a": 1.0, "b": 1e2, "c": -0.0, "d": 2**60, "\ufb33": 1, "\U0001f600": 2}
    text = '{"a":1,"b":100,"c":0,"d":1152921504606847000,"\U0001f600":2,"\ufb33":1}'
    assert canonical_json(data) == text
    assert input_hash(ident, data) == hashlib.sha256(f"{ident};{text}".encode()).hexdigest()
    # Integers beyond 2**53 are doubles, written as JS writes them (String(2**60) above).
    assert canonical_json({"n": 2**53 + 1}) == '{"n":9007199254740992}'
    with pytest.raises(ValueError, match="too large"):
        canonical_json({"n": 10**400})


def _escape_by_hand(text: str) -> str:
    """JSON.stringify's string escaping, without the quotes: a second implementation."""
    named = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}
    out = []
    for ch in text:
        code = ord(ch)
        out.append(named.get(code) or (f"\\u{code:04x}" if code < 32 else ch))
    return "".join(out)


OUTPUTS = [
    "plain",
    "line one\nline two\n",
    'she said "hi"',
    "C:\\path\\to\\file",
    "col\tcol\r\n",
    "bell\x07 and \x1f and \x7f and é and 😀",
    "",
]


@pytest.mark.parametrize("output", OUTPUTS)
def test_result_hash_rules(output: str) -> None:
    ident = "0a1b2c3d4e5f6071"
    escaped = hashlib.sha256(f"{ident};{_escape_by_hand(output)}".encode()).hexdigest()
    raw = hashlib.sha256(f"{ident};{output}".encode()).hexdigest()
    assert result_hash(ident, output) == escaped  # the default: what masumi buyers check
    assert result_hash(ident, output, ResultHashRule.ESCAPED) == escaped
    assert result_hash(ident, output, ResultHashRule.RAW) == raw


def test_the_revisions_chain() -> None:
    # Open MIP-004 revision: h0 (start_job) ; h1 ; h2 (provide_input, in order) ; id ; result.
    ident = "0a1b2c3d4e5f6071"
    h0 = input_hash(ident, {"topic": "cats"})
    h1 = input_hash(ident, {"approve": True})
    h2 = input_hash(ident, {"budget": 12.5})
    output = 'two\nlines "quoted"'
    preimage = h0 + ";" + h1 + ";" + h2 + ";" + ident + ";" + output
    expected = hashlib.sha256(preimage.encode()).hexdigest()
    assert result_hash(ident, output, ResultHashRule.CHAINED, [h0, h1, h2]) == expected
    assert result_hash(ident, output, ResultHashRule.CHAINED, [h0, h2, h1]) != expected
    # No human input: the start_job hash alone.
    alone = hashlib.sha256(f"{h0};{ident};{output}".encode()).hexdigest()
    assert result_hash(ident, output, ResultHashRule.CHAINED, [h0]) == alone


def test_rules_setting() -> None:
    assert parse_result_hash_rules("raw") == {"*": ResultHashRule.RAW}
    assert parse_result_hash_rules("*:escaped, old-agent:raw, next:chained") == {
        "*": ResultHashRule.ESCAPED,
        "old-agent": ResultHashRule.RAW,
        "next": ResultHashRule.CHAINED,
    }
    with pytest.raises(ValueError, match="unknown result hash rule 'sha3'"):
        parse_result_hash_rules("a:sha3")


def test_result_text() -> None:
    assert result_text({"b": 1.0, "a": "x"}) == '{"a":"x","b":1}'
    assert result_text("as is") == "as is"
    assert result_text(None) == ""
