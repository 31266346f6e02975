"""Identifiers derived from domain keys: MIP-004 hashes and workflow ids.

A job's workflow id is a function of (agent, identifier_from_purchaser, input), so starting
the same job twice finds the first one instead of running a second.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = [
    "canonical_json",
    "child_workflow_id",
    "input_hash",
    "job_id_for",
    "result_hash",
    "result_text",
    "validate_agent_name",
]

_AGENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the MIP-004 way: sorted keys, no whitespace, UTF-8 unescaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(identifier_from_purchaser: str, input_data: dict[str, Any]) -> str:
    """MIP-004 input hash: sha256 hex of ``identifier + ";" + canonical JSON of input``.

    Example:
        >>> input_hash("abcdef0123456789", {"topic": "cats"})[:12]
        '9cb0386b8c6f'
    """
    payload = f"{identifier_from_purchaser};{canonical_json(input_data)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def result_hash(identifier_from_purchaser: str, output: str) -> str:
    """MIP-004 result hash over the output string, taken as is (not JSON-escaped first).

    durasumi hashes the raw output string: ``sha256(identifier + ";" + output)``. The reference
    Python package JSON-escapes the string first, which differs only for outputs containing
    quotes, backslashes or control characters.
    """
    payload = f"{identifier_from_purchaser};{output}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def result_text(result: Any) -> str:
    """A job's result as the string MIP-003 returns and MIP-004 hashes.

    A string result is itself; anything else is its canonical JSON.
    """
    if result is None:
        return ""
    return result if isinstance(result, str) else canonical_json(result)


def validate_agent_name(name: str) -> str:
    """Return ``name`` if it is a valid agent name, else raise ValueError saying why."""
    if not _AGENT_NAME.fullmatch(name):
        raise ValueError(
            f"invalid agent name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return name


def job_id_for(agent: str, buyer: str, input_hash_hex: str) -> str:
    """The job id (and JobWorkflow id) for an agent, a buyer and a MIP-004 input hash.

    The buyer is part of the key: two buyers who happen to pick the same
    identifier_from_purchaser and input get two jobs, never each other's.
    """
    key = hashlib.sha256(f"{buyer};{input_hash_hex}".encode()).hexdigest()
    return f"job-{agent}-{key[:24]}"


def child_workflow_id(job_id: str) -> str:
    """The workflow id of the agent child of a job."""
    return f"{job_id}-agent"
