"""Identifiers derived from domain keys: MIP-004 hashes and workflow ids.

A job's workflow id is a function of (agent, identifier_from_purchaser, input), so starting
the same job twice finds the first one instead of running a second.

MIP-004 hashes, and which buyers compute which (docs/escrow.md, "Hashes"):

- input hash: sha256 of ``identifier;`` + the RFC 8785 (JCS) text of the input, as the MIP's
  text requires and JS buyers (Sokosumi) compute it (``workflows/jcs.py``);
- result hash, rule ``escaped`` (the default): sha256 of ``identifier;`` + the output
  JSON-escaped without its quotes, what the masumi PyPI package (``create_masumi_output_hash``)
  and the payment service's helper compute; rule ``raw``: the output as is (MIP-004 main);
  rule ``chained`` (the open MIP-004 revision): every input hash of the job in order (the
  start_job one, then each provide_input one), then the identifier, then the raw output,
  joined with ``;``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from durasumi.workflows.jcs import canonicalize

__all__ = [
    "ResultHashRule",
    "canonical_json",
    "child_workflow_id",
    "dev_agent_identifier",
    "input_hash",
    "job_id_for",
    "parse_result_hash_rules",
    "result_hash",
    "result_text",
    "validate_agent_name",
]

_AGENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class ResultHashRule(StrEnum):
    """How a job's result hash is formed (module docstring)."""

    ESCAPED = "escaped"
    RAW = "raw"
    CHAINED = "chained"


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the MIP-004 way: RFC 8785 (JCS).

    Example:
        >>> canonical_json({"b": 1.0, "a": [1e2, "é"]})
        '{"a":[100,"é"],"b":1}'
    """
    return canonicalize(value)


def input_hash(identifier_from_purchaser: str, input_data: dict[str, Any]) -> str:
    """MIP-004 input hash: sha256 hex of ``identifier + ";" + canonical JSON of input``.

    Example:
        >>> input_hash("abcdef0123456789", {"topic": "cats"})[:12]
        '9cb0386b8c6f'
    """
    payload = f"{identifier_from_purchaser};{canonical_json(input_data)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def result_hash(
    identifier_from_purchaser: str,
    output: str,
    rule: ResultHashRule = ResultHashRule.ESCAPED,
    input_hashes: Sequence[str] = (),
) -> str:
    """MIP-004 result hash of ``output`` under ``rule`` (module docstring).

    ``input_hashes`` (the job's input hashes in order, start_job's first) count only for
    the ``chained`` rule.

    Example:
        >>> result_hash("abcdef0123456789", 'say "hi"')[:12]
        '982689719a4a'
    """
    if rule is ResultHashRule.ESCAPED:
        preimage = f"{identifier_from_purchaser};{_json_escaped(output)}"
    elif rule is ResultHashRule.RAW:
        preimage = f"{identifier_from_purchaser};{output}"
    else:
        preimage = ";".join([*input_hashes, identifier_from_purchaser, output])
    return hashlib.sha256(preimage.encode("utf-8")).hexdigest()


def parse_result_hash_rules(text: str) -> dict[str, ResultHashRule]:
    """``rule`` or ``agent:rule,...`` (``*``: every other agent) as a dict by agent.

    Example:
        >>> parse_result_hash_rules("*:escaped, legacy:raw")["legacy"].value
        'raw'
    """
    rules: dict[str, ResultHashRule] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        agent, _, name = item.rpartition(":")
        try:
            rules[agent.strip() or "*"] = ResultHashRule(name.strip())
        except ValueError:
            known = ", ".join(r.value for r in ResultHashRule)
            raise ValueError(f"unknown result hash rule {name.strip()!r} (use {known})") from None
    return rules


def _json_escaped(text: str) -> str:
    """``text`` as a JSON string literal without its quotes (JSON.stringify / json.dumps)."""
    return canonicalize(text)[1:-1]


def dev_agent_identifier(agent: str) -> str:
    """A made-up Masumi registry identifier for ``agent`` (dev mode): stable, hex, well-formed.

    A policy id (blake2b-224 of a fixed dev label) followed by an asset name (sha256 of the
    agent's name), the shape of an identifier the Masumi registry mints.
    """
    policy = hashlib.blake2b(b"durasumi dev registry", digest_size=28).hexdigest()
    return policy + hashlib.sha256(agent.encode()).hexdigest()


def result_text(result: Any) -> str:
    """A job's result as the string MIP-003 returns and MIP-004 hashes.

    A string result is itself; anything else is its canonical JSON.
    """
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    try:
        return canonical_json(result)
    except ValueError:  # a number no double holds: sorted compact JSON, as before RFC 8785
        return json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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


def watch_queue(platform_task_queue: str) -> str:
    """The task queue of the platform's long-running watches (remote agents, hired sub-jobs).

    A worker of its own polls it, so watches that last as long as a job never take the
    escrow steps' slots on the platform queue.

    Example:
        >>> watch_queue("durasumi-platform")
        'durasumi-platform-watch'
    """
    return f"{platform_task_queue}-watch"
