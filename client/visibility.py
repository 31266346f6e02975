"""Temporal list filters (visibility queries) built from any text, without injection.

Temporal parses a list filter with its fork of Vitess's sqlparser, so a value must be one
string literal whatever it holds: quotes, backslashes, ``OR 1=1``, any Unicode. This module
imports nothing heavy, so the CLI's quick reads (no Temporal SDK import) use it too.
"""

from __future__ import annotations

__all__ = ["visibility_literal"]

# In that parser a string literal is quoted with ' (or "); inside it a backslash escapes the
# next byte (\0 \b \n \r \t \Z decode to control characters, any other byte to itself) and
# a doubled quote is one quote; every other byte, UTF-8 included, is taken as is. Escaping the
# backslash and both quotes keeps any text inside one literal; control characters are escaped
# as the parser's own encoder writes them (sqltypes.SQLEncodeMap), so the query stays one
# printable line.
_LITERAL_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\x00": "\\0",
        "\b": "\\b",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\x1a": "\\Z",
    }
)


def visibility_literal(value: str) -> str:
    r"""``value`` as one string literal of a Temporal list filter, whatever it holds.

    Two limits are Temporal's, after parsing. Its SQL visibility stores (SQLite, PostgreSQL)
    re-escape backslashes, double quotes and control characters MySQL-style when they render
    the query, so there a value holding one of them matches nothing (never anything else).
    And every store strips all leading and trailing quotes from a parsed string value
    (``query.ParseSqlValue`` trims ``'``), so ``'alice`` would match ``alice``: such a value is
    refused here rather than matched against someone else's.

    Example:
        >>> print(visibility_literal("x' OR 'a'='a"))
        'x\' OR \'a\'=\'a'

    Raises:
        ValueError: ``value`` is not valid Unicode text (a lone surrogate), or it starts or
            ends with a quote ``'``, which Temporal would strip.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"not valid Unicode text: {value!r}") from err
    if value.startswith("'") or value.endswith("'"):
        raise ValueError(
            f"{value!r} starts or ends with a quote, which Temporal strips from a filter value"
        )
    return "'" + value.translate(_LITERAL_ESCAPES) + "'"
